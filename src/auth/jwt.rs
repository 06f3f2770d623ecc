//! Short-lived access tokens: HS256 JWTs with every registered claim required.
//!
//! An access token names its user (`sub`), its session (`sid`) and the user's
//! credentials version (`ver`); the extractor reloads all three on every request, so a
//! logout, a disabled account or a password change ends the token at once. Keys carry a
//! `kid`: after a rotation the previous key still verifies until its tokens expire.

use std::path::Path;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub const ISSUER: &str = "lagesbild";
pub const AUDIENCE: &str = "lagesbild-api";
const ACCESS: &str = "access";
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 5;
const MIN_KEY_BYTES: usize = 32;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: Uuid,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: Uuid,
    /// Token type: always `access` (refresh tokens are opaque, never JWTs).
    pub typ: String,
    /// The session (refresh-token family) the token belongs to.
    pub sid: Uuid,
    /// The user's credentials version when the token was issued.
    pub ver: i32,
}

struct Key {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Key {
    fn new(secret: &[u8]) -> anyhow::Result<Self> {
        anyhow::ensure!(
            secret.len() >= MIN_KEY_BYTES,
            "a JWT signing key needs at least {MIN_KEY_BYTES} bytes"
        );
        let kid = Sha256::digest(secret)
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self {
            kid,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        })
    }
}

/// The signing key and, during a rotation, the previous one.
pub struct JwtKeys {
    current: Key,
    previous: Option<Key>,
    validation: Validation,
    /// A digest of the current key, from which other server secrets are derived.
    root: [u8; 32],
}

impl JwtKeys {
    pub fn new(current: &[u8], previous: Option<&[u8]>) -> anyhow::Result<Self> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        // jsonwebtoken checks iss and aud only when they are listed as required.
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        Ok(Self {
            current: Key::new(current)?,
            previous: previous.map(Key::new).transpose()?,
            validation,
            root: Sha256::digest(current).into(),
        })
    }

    /// A secret for `purpose`, derived from the signing key: the same on every instance
    /// that shares the key, and useless for signing tokens.
    pub fn derived_secret(&self, purpose: &str) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(purpose.as_bytes());
        hasher.update([0]);
        hasher.update(self.root);
        hasher.finalize().into()
    }

    /// Reads configured keys, or generates one on first use and keeps it in
    /// `<data-dir>/jwt-signing.key` (mode 0600) so sessions survive restarts.
    pub fn load(
        current: Option<Vec<u8>>,
        previous: Option<Vec<u8>>,
        data_dir: &Path,
    ) -> anyhow::Result<Self> {
        let current = match current {
            Some(secret) => secret,
            None => generated_key(&data_dir.join("jwt-signing.key"))?,
        };
        Self::new(&current, previous.as_deref())
    }

    pub fn issue(
        &self,
        user: Uuid,
        session: Uuid,
        credentials_version: i32,
        now: DateTime<Utc>,
        ttl_secs: i64,
    ) -> anyhow::Result<String> {
        let iat = now.timestamp();
        let claims = AccessClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: user,
            exp: iat + ttl_secs,
            nbf: iat,
            iat,
            jti: Uuid::new_v4(),
            typ: ACCESS.into(),
            sid: session,
            ver: credentials_version,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.current.kid.clone());
        Ok(jsonwebtoken::encode(
            &header,
            &claims,
            &self.current.encoding,
        )?)
    }

    /// The claims of a valid access token signed by a known key; `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<AccessClaims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::HS256 {
            return None;
        }
        let kid = header.kid?;
        let key = [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|k| k.kid == kid)?;
        let data =
            jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &self.validation).ok()?;
        (data.claims.typ == ACCESS).then_some(data.claims)
    }
}

fn generated_key(path: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    if let Ok(existing) = std::fs::read(path) {
        return Ok(existing);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut secret = [0u8; 48];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(&secret)?;
    tracing::info!(path = %path.display(), "generated a JWT signing key");
    Ok(secret.to_vec())
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
    const OTHER: &[u8] = b"fedcba9876543210fedcba9876543210";

    fn token(keys: &JwtKeys, now: DateTime<Utc>) -> String {
        keys.issue(Uuid::new_v4(), Uuid::new_v4(), 1, now, 900)
            .unwrap()
    }

    #[test]
    fn a_fresh_token_verifies_and_carries_every_claim() {
        let keys = JwtKeys::new(KEY, None).unwrap();
        let claims = keys.verify(&token(&keys, Utc::now())).unwrap();
        assert_eq!(
            (
                claims.iss.as_str(),
                claims.aud.as_str(),
                claims.typ.as_str()
            ),
            (ISSUER, AUDIENCE, "access")
        );
        assert_eq!(claims.exp - claims.iat, 900);
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(JwtKeys::new(b"too short", None).is_err());
    }

    #[test]
    fn expiry_is_enforced_with_five_seconds_of_leeway() {
        let keys = JwtKeys::new(KEY, None).unwrap();
        let issued = |secs_ago: i64| token(&keys, Utc::now() - chrono::Duration::seconds(secs_ago));
        assert!(keys.verify(&issued(900 + 3)).is_some(), "within the leeway");
        assert!(keys.verify(&issued(900 + 6)).is_none(), "leeway + 1 s");
        assert!(
            keys.verify(&token(&keys, Utc::now() + chrono::Duration::seconds(60)))
                .is_none(),
            "nbf in the future"
        );
    }

    #[test]
    fn another_key_alg_none_and_tampering_are_refused() {
        let keys = JwtKeys::new(KEY, None).unwrap();
        let foreign = JwtKeys::new(OTHER, None).unwrap();
        assert!(keys.verify(&token(&foreign, Utc::now())).is_none());

        let good = token(&keys, Utc::now());
        let parts: Vec<&str> = good.split('.').collect();
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(
            keys.verify(&format!("{none_header}.{}.", parts[1]))
                .is_none()
        );

        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["ver"] = 99.into();
        let tampered = URL_SAFE_NO_PAD.encode(claims.to_string());
        assert!(
            keys.verify(&format!("{}.{tampered}.{}", parts[0], parts[2]))
                .is_none()
        );
    }

    #[test]
    fn the_previous_key_verifies_after_a_rotation() {
        let old = JwtKeys::new(KEY, None).unwrap();
        let rotated = JwtKeys::new(OTHER, Some(KEY)).unwrap();
        assert!(rotated.verify(&token(&old, Utc::now())).is_some());
        assert!(
            JwtKeys::new(OTHER, None)
                .unwrap()
                .verify(&token(&old, Utc::now()))
                .is_none()
        );
    }

    #[test]
    fn wrong_issuer_audience_or_type_is_refused() {
        let keys = JwtKeys::new(KEY, None).unwrap();
        let now = Utc::now().timestamp();
        let forge = |iss: &str, aud: &str, typ: &str| {
            let claims = serde_json::json!({
                "iss": iss,
                "aud": aud,
                "sub": Uuid::new_v4(),
                "exp": now + 600,
                "nbf": now,
                "iat": now,
                "jti": Uuid::new_v4(),
                "typ": typ,
                "sid": Uuid::new_v4(),
                "ver": 1,
            });
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(keys.current.kid.clone());
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(KEY)).unwrap()
        };
        assert!(keys.verify(&forge(ISSUER, AUDIENCE, "access")).is_some());
        assert!(
            keys.verify(&forge("someone-else", AUDIENCE, "access"))
                .is_none()
        );
        assert!(keys.verify(&forge(ISSUER, "other-api", "access")).is_none());
        assert!(keys.verify(&forge(ISSUER, AUDIENCE, "refresh")).is_none());
    }
}
