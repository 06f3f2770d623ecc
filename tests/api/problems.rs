//! Requests that match no route get problem documents, never plain-text errors.

use crate::helpers::{TestApp, assert_problem};

#[actix_web::test]
async fn an_unknown_path_is_a_404_problem() {
    let app = TestApp::spawn().await;
    let problem = assert_problem(app.get("/v1/nothing-here").await, 404).await;
    assert_eq!(problem["type"], "urn:lagesbild:problem:not-found");
}

#[actix_web::test]
async fn a_wrong_method_is_a_405_problem_listing_the_allowed_methods() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/health/live"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "GET");
    let problem = assert_problem(response, 405).await;
    assert_eq!(problem["detail"], "this path accepts GET");

    let response = app
        .client
        .delete(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "GET");
    assert_problem(response, 405).await;
}

#[actix_web::test]
async fn a_large_body_to_a_path_without_a_body_is_refused_without_being_read() {
    let app = TestApp::spawn().await;
    let body = vec![b'x'; 1024 * 1024];
    let response = app
        .client
        .post(app.url("/v1/nothing-here"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_problem(response, 404).await;
}
