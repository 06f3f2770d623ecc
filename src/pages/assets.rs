//! The pages' stylesheet and script, compiled into the binary: nothing is fetched from
//! another origin, at build or at run time.

use actix_web::{HttpResponse, get, web};

const FILES: [(&str, &str, &str); 2] = [
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/app.js"),
    ),
];

#[get("/assets/{name}")]
pub async fn file(name: web::Path<String>) -> HttpResponse {
    match FILES.iter().find(|(file, _, _)| *file == name.as_str()) {
        Some((_, content_type, body)) => HttpResponse::Ok()
            .content_type(*content_type)
            // Short: a deploy changes them, and they are small.
            .insert_header(("Cache-Control", "public, max-age=300"))
            .body(*body),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("not found"),
    }
}
