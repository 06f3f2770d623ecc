//! `Upload`: a body sent either as JSON or as CSV, read with the same limits and
//! deadlines as every JSON body.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

use crate::error::ApiError;
use crate::http::json::{declared_length, read_limited};

/// An upload sent either as JSON or as CSV (`text/csv`), `LIMIT` bytes at most.
pub enum Upload<const LIMIT: usize> {
    Json(web::Bytes),
    Csv(web::Bytes),
}

impl<const LIMIT: usize> FromRequest for Upload<LIMIT> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let kind = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime::Mime>().ok())
            .and_then(|m| match (m.type_(), m.subtype().as_str()) {
                (mime::APPLICATION, "json") => Some(true),
                (mime::TEXT, "csv") => Some(false),
                _ => None,
            });
        let declared = declared_length(req);
        let mut payload = payload.take();
        Box::pin(async move {
            let is_json = kind.ok_or_else(|| {
                ApiError::UnsupportedMediaType(
                    "the request body must be application/json or text/csv".into(),
                )
            })?;
            let body = read_limited(&mut payload, declared, LIMIT).await?;
            Ok(if is_json {
                Upload::Json(body)
            } else {
                Upload::Csv(body)
            })
        })
    }
}
