//! Checks every request passes before routing.

use crate::error::ApiError;

/// Middleware: a URL with a percent-encoded control character (`%00`, `%0A`, …) is
/// refused before routing: 422 in the query string, 404 in the path.
pub async fn refuse_control_characters(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<
    actix_web::dev::ServiceResponse<actix_web::body::EitherBody<impl actix_web::body::MessageBody>>,
    actix_web::Error,
> {
    let encoded_control = |text: &str| {
        text.as_bytes().windows(3).any(|w| {
            w[0] == b'%'
                && matches!(
                    (w[1].to_ascii_lowercase(), w[2].to_ascii_lowercase()),
                    (b'0' | b'1', _) | (b'7', b'f')
                )
        })
    };
    let refusal = if encoded_control(req.query_string()) {
        Some(ApiError::invalid(
            "query",
            "control_character",
            "control characters are not allowed",
        ))
    } else if encoded_control(req.uri().path()) {
        Some(ApiError::NotFound)
    } else {
        None
    };
    match refusal {
        Some(error) => {
            let (request, _) = req.into_parts();
            let response = actix_web::ResponseError::error_response(&error);
            Ok(actix_web::dev::ServiceResponse::new(request, response).map_into_right_body())
        }
        None => Ok(next.call(req).await?.map_into_left_body()),
    }
}
