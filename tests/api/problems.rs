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

#[actix_web::test]
async fn a_concrete_path_beside_a_template_answers_405_for_the_templates_method() {
    let app = TestApp::spawn().await;
    let school = app
        .token_for(lagesbild::domain::identity::Role::School, "umea")
        .await;
    for (path, allowed) in [("/v1/signals/batch", "POST"), ("/v1/signals/mine", "GET")] {
        let response = app
            .authed(reqwest::Method::DELETE, path, &school)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["allow"], allowed, "{path}");
        assert_problem(response, 405).await;
    }
    // The template itself still answers: an id that names no signal is a 404.
    let response = app
        .authed(reqwest::Method::DELETE, "/v1/signals/not-an-id", &school)
        .send()
        .await
        .unwrap();
    assert_problem(response, 404).await;
}

#[actix_web::test]
async fn a_body_must_be_an_object_whose_lists_hold_no_lists() {
    let app = TestApp::spawn().await;
    let school = app
        .token_for(lagesbild::domain::identity::Role::School, "umea")
        .await;
    let cases = [
        // serde alone would read these as structs, field by field.
        (
            "/v1/signals",
            serde_json::json!(["teg", "13-15", "weapons", "school", null, null, "2026-W47"]),
            "body",
        ),
        (
            "/v1/signals/batch",
            serde_json::json!({"signals": [["teg", "13-15", "weapons", "school"]]}),
            "signals.0",
        ),
    ];
    for (path, body, field) in cases {
        let response = app
            .authed(reqwest::Method::POST, path, &school)
            .json(&body)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, 422).await;
        assert_eq!(problem["errors"][0]["code"], "invalid_type", "{body}");
        let named = match (
            &problem["errors"][0]["index"],
            &problem["errors"][0]["field"],
        ) {
            (serde_json::Value::Number(i), _) => format!("signals.{i}"),
            (_, f) => f.as_str().unwrap().to_owned(),
        };
        assert_eq!(named, field, "{problem}");
    }
}

#[actix_web::test]
async fn a_body_that_stops_arriving_is_answered_408_and_the_connection_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    let address = app.url("").trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
    socket
        .write_all(
            b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"username\"",
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    // Read until the server closes the connection; it must not wait for the rest.
    tokio::time::timeout(
        std::time::Duration::from_secs(15),
        socket.read_to_end(&mut answer),
    )
    .await
    .expect("the server closed the connection")
    .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
