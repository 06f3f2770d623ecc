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

#[cfg(test)]
mod tests {
    use super::*;

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
