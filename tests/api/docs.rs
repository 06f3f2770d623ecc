//! The published OpenAPI document and the interactive documentation.

use crate::helpers::TestApp;

const COMMITTED: &str = include_str!("../../openapi/openapi.json");
const REGENERATE: &str = "the committed openapi/openapi.json is out of date; regenerate it with \
                          `cargo run --quiet -- openapi > openapi/openapi.json` and commit it";

#[test]
fn the_committed_spec_is_what_the_code_generates() {
    assert!(lagesbild::openapi::spec_json() == COMMITTED, "{REGENERATE}");
}

#[actix_web::test]
async fn the_served_spec_equals_the_committed_file() {
    let app = TestApp::spawn().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let served: serde_json::Value = response.json().await.unwrap();
    let committed: serde_json::Value = serde_json::from_str(COMMITTED).unwrap();
    assert!(served == committed, "{REGENERATE}");
}

#[actix_web::test]
async fn the_docs_are_served_from_the_binary_without_the_online_validator() {
    let app = TestApp::spawn().await;
    let redirect = app.get("/docs").await;
    assert!(redirect.status().is_redirection());
    assert_eq!(redirect.headers()["location"], "/docs/");

    let page = app.get("/docs/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("https://"),
        "the page must not load anything from elsewhere: {html}"
    );

    let initializer = app
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        initializer.contains(r#""validatorUrl": "none""#),
        "{initializer}"
    );
    assert!(initializer.contains("/openapi.json"), "{initializer}");
    for asset in ["/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js"] {
        assert_eq!(app.get(asset).await.status(), 200, "{asset} is served");
    }
}
