//! The pages' stylesheet, scripts and icons, compiled into the binary: nothing is fetched
//! from another origin, at build or at run time. The reporting form's web app manifest
//! and service worker are served from the root, where a service worker must live to
//! control `/rapportera`.

use actix_web::{HttpResponse, get, web};

const FILES: [(&str, &str, &[u8]); 5] = [
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/app.js"),
    ),
    (
        "report.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/report.js"),
    ),
    (
        "icon-192.png",
        "image/png",
        include_bytes!("../../assets/icons/icon-192.png"),
    ),
    (
        "icon-512.png",
        "image/png",
        include_bytes!("../../assets/icons/icon-512.png"),
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

/// The service worker of the reporting pages (`assets/sw.js`). Never cached by HTTP, so
/// that a deploy's new worker is found at the next visit.
#[get("/sw.js")]
pub async fn service_worker() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "no-cache"))
        .body(include_str!("../../assets/sw.js"))
}

/// The web app manifest: the reporting form installed on a phone's home screen.
#[get("/manifest.webmanifest")]
pub async fn manifest() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/manifest+json")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(include_str!("../../assets/manifest.webmanifest"))
}
