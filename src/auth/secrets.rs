//! Opaque random tokens (refresh tokens, API tokens) and their stored digests.
//!
//! Tokens carry 256 bits from the operating system's CSPRNG. Only their SHA-256 digest
//! is stored: a database leak does not leak usable tokens, and because the tokens are
//! uniformly random a fast hash is enough (no password-style stretching needed).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// Prefix of API tokens, so that secret scanners and humans recognise them.
pub const API_TOKEN_PREFIX: &str = "lgb_";

/// `prefix` followed by 256 random bits, URL-safe base64.
pub fn random_token(prefix: &str) -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("no randomness: {e}")))?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The digest under which a token is stored and looked up.
pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// HMAC-SHA256 of `message` under `secret` (RFC 2104), as 64 hex digits: how a value a
/// client chose (an `Idempotency-Key`, a typed username, an address) is stored when only
/// its equality matters. Without the server's secret the stored digest cannot be matched
/// against guesses, so whatever personal data a client put into the value stays unreadable.
pub fn keyed_digest(secret: &[u8; 32], message: &[u8]) -> String {
    const BLOCK: usize = 64;
    let mut key = [0u8; BLOCK];
    key[..secret.len()].copy_from_slice(secret);
    let pad = |byte: u8| key.map(|k| k ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_digests_are_rfc_4231_hmac_sha256() {
        // RFC 4231 test case 2 uses a 4-byte key; padded with zeros to 32 bytes it is
        // the same HMAC key (keys shorter than the block are zero-padded anyway).
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        assert_eq!(
            keyed_digest(&key, b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_ne!(keyed_digest(&[1; 32], b"x"), keyed_digest(&[2; 32], b"x"));
    }

    #[test]
    fn tokens_are_prefixed_long_and_distinct() {
        let a = random_token(API_TOKEN_PREFIX).unwrap();
        let b = random_token(API_TOKEN_PREFIX).unwrap();
        assert!(a.starts_with("lgb_"));
        assert_eq!(a.len(), 4 + 43);
        assert_ne!(a, b);
        assert_eq!(digest(&a).len(), 32);
        assert_ne!(digest(&a), digest(&b));
    }
}
