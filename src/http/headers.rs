//! Request headers with rules of their own.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};

use crate::error::ApiError;

/// The `Idempotency-Key` header: 1–128 printable ASCII characters, or absent.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub Option<String>);

impl FromRequest for IdempotencyKey {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let invalid = || {
            ApiError::invalid(
                "Idempotency-Key",
                "invalid",
                "an Idempotency-Key has 1–128 printable ASCII characters",
            )
        };
        let key = match req.headers().get("idempotency-key") {
            None => Ok(None),
            Some(value) => value
                .to_str()
                .ok()
                .filter(|k| {
                    (1..=128).contains(&k.len()) && k.bytes().all(|b| (0x20..=0x7e).contains(&b))
                })
                .map(|k| Some(k.to_string()))
                .ok_or_else(invalid),
        };
        std::future::ready(key.map(IdempotencyKey))
    }
}
