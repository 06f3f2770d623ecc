//! Logins, sessions and tokens, including the attacks a token must survive.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lagesbild::domain::identity::Role;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{JWT_SECRET, PASSWORD, TestApp, assert_problem};

async fn me_status(app: &TestApp, token: &str) -> u16 {
    app.authed(Method::GET, "/v1/me", token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn kid(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A token with `claims`, signed with `secret` under its own kid.
fn forge(claims: &Value, secret: &str) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid(secret));
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn claims_of(token: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

#[actix_web::test]
async fn login_returns_a_short_lived_access_token_and_a_refresh_token() {
    let app = TestApp::spawn().await;
    let user = app.create_user(Role::School, "teg");
    let pair = app.login(&user).await;
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    let claims = claims_of(pair["access_token"].as_str().unwrap());
    for claim in [
        "iss", "aud", "sub", "exp", "nbf", "iat", "jti", "typ", "sid", "ver",
    ] {
        assert!(!claims[claim].is_null(), "missing {claim}: {claims}");
    }
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    assert!(
        pair["refresh_token"].as_str().unwrap().len() >= 43,
        "at least 256 bits"
    );

    let me: Value = app
        .authed(
            Method::GET,
            "/v1/me",
            pair["access_token"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], user.username.as_str());
    assert_eq!(me["role"], "school");
    assert_eq!(me["area"], "teg");
    assert_eq!(
        me["permissions"],
        json!(["signals:submit", "signals:own", "reference:read"])
    );
}

#[actix_web::test]
async fn an_unknown_user_and_a_wrong_password_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let user = app.create_user(Role::Police, "umea");
    let wrong_password = app
        .login_response(&user.username, "not the right password")
        .await;
    let unknown_user = app.login_response("nobody-here", PASSWORD).await;
    assert_eq!(wrong_password.status(), unknown_user.status());
    let (a, b) = (
        assert_problem(wrong_password, 401).await,
        assert_problem(unknown_user, 401).await,
    );
    assert_eq!(a, b);
}

#[actix_web::test]
async fn five_failures_lock_the_account_for_fifteen_minutes_even_for_the_right_password() {
    let app = TestApp::spawn().await;
    let user = app.create_user(Role::Coordinator, "umea");
    for _ in 0..5 {
        assert_eq!(
            app.login_response(&user.username, "not the right password")
                .await
                .status(),
            401
        );
    }
    let locked = app.login_response(&user.username, PASSWORD).await;
    let retry_after: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((890..=900).contains(&retry_after), "{retry_after}");
    assert_problem(locked, 429).await;

    // Another account from the same client is not affected by this account's lock.
    let other = app.create_user(Role::Coordinator, "umea");
    assert_eq!(
        app.login_response(&other.username, PASSWORD).await.status(),
        200
    );
    // An unknown account locks the same way, so a 429 does not reveal which names exist.
    for _ in 0..5 {
        app.login_response("no-such-user", "not the right password")
            .await;
    }
    assert_eq!(
        app.login_response("no-such-user", "not the right password")
            .await
            .status(),
        429
    );
}

#[actix_web::test]
async fn parallel_guesses_cannot_outrun_the_lockout() {
    let app = TestApp::spawn().await;
    let user = app.create_user(Role::Admin, "umea");
    let guesses = (0..20)
        .map(|n| format!("guess number {n} of many"))
        .collect::<Vec<_>>();
    let guesses = guesses
        .iter()
        .map(|guess| app.login_response(&user.username, guess));
    let statuses: Vec<u16> = futures_util::future::join_all(guesses)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let verified = statuses.iter().filter(|s| **s == 401).count();
    assert_eq!(verified, 5, "only 5 guesses may be checked: {statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        15,
        "{statuses:?}"
    );
}

#[actix_web::test]
async fn many_failures_from_one_client_lock_that_client() {
    let app = TestApp::spawn().await;
    for n in 0..100 {
        app.login_response(&format!("guess-{n}"), "not the right password")
            .await;
    }
    let user = app.create_user(Role::Analyst, "umea");
    let response = app.login_response(&user.username, PASSWORD).await;
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, 429).await;
}

#[actix_web::test]
async fn a_refresh_token_works_once_and_its_reuse_revokes_the_whole_session() {
    let app = TestApp::spawn().await;
    let user = app.create_user(Role::Leisure, "haga");
    let first = app.login(&user).await;
    let refresh = |token: Value| {
        app.client
            .post(app.url("/v1/auth/refresh"))
            .json(&json!({"refresh_token": token}))
            .send()
    };
    let second: Value = refresh(first["refresh_token"].clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = second["access_token"].as_str().unwrap();
    assert_eq!(me_status(&app, access).await, 200);

    // The first token again: someone else has it. Everything of this session dies.
    assert_problem(refresh(first["refresh_token"].clone()).await.unwrap(), 401).await;
    assert_problem(refresh(second["refresh_token"].clone()).await.unwrap(), 401).await;
    assert_eq!(me_status(&app, access).await, 401);
    // A new login still works.
    assert_eq!(
        app.login_response(&user.username, PASSWORD).await.status(),
        200
    );
}

#[actix_web::test]
async fn logout_ends_the_session_at_once() {
    let app = TestApp::spawn().await;
    let pair = app
        .login(&app.create_user(Role::FieldWorker, "alidhem"))
        .await;
    let access = pair["access_token"].as_str().unwrap();
    assert_eq!(
        app.authed(Method::POST, "/v1/auth/logout", access)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(me_status(&app, access).await, 401);
    let refreshed = app
        .client
        .post(app.url("/v1/auth/refresh"))
        .json(&json!({"refresh_token": pair["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 401);
}

#[actix_web::test]
async fn forged_expired_premature_and_misaddressed_tokens_are_all_401() {
    let app = TestApp::spawn().await;
    let pair = app.login(&app.create_user(Role::Analyst, "umea")).await;
    let good = pair["access_token"].as_str().unwrap();
    assert_eq!(me_status(&app, good).await, 200);
    let claims = claims_of(good);
    let now = chrono::Utc::now().timestamp();
    let with = |changes: Value| {
        let mut c = claims.clone();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let parts: Vec<&str> = good.split('.').collect();
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let tampered = URL_SAFE_NO_PAD.encode(with(json!({"sub": uuid::Uuid::new_v4()})).to_string());

    let attacks: Vec<(&str, String)> = vec![
        (
            "the genuine token re-signed with our key (control)",
            forge(&claims, JWT_SECRET),
        ),
        ("alg: none", format!("{none_header}.{}.", parts[1])),
        (
            "signed with another key",
            forge(&claims, "another-key-that-is-also-32-bytes-long!!"),
        ),
        (
            "tampered payload",
            format!("{}.{tampered}.{}", parts[0], parts[2]),
        ),
        (
            "expired by leeway + 1 s",
            forge(
                &with(json!({"exp": now - 6, "iat": now - 906, "nbf": now - 906})),
                JWT_SECRET,
            ),
        ),
        (
            "nbf in the future",
            forge(&with(json!({"nbf": now + 60})), JWT_SECRET),
        ),
        (
            "missing aud",
            forge(&with(json!({"aud": null})), JWT_SECRET),
        ),
        (
            "wrong aud",
            forge(&with(json!({"aud": "another-api"})), JWT_SECRET),
        ),
        (
            "missing iss",
            forge(&with(json!({"iss": null})), JWT_SECRET),
        ),
        (
            "wrong iss",
            forge(&with(json!({"iss": "someone-else"})), JWT_SECRET),
        ),
        (
            "missing jti",
            forge(&with(json!({"jti": null})), JWT_SECRET),
        ),
        (
            "wrong token type",
            forge(&with(json!({"typ": "refresh"})), JWT_SECRET),
        ),
        (
            "the refresh token as an access token",
            pair["refresh_token"].as_str().unwrap().to_string(),
        ),
        ("garbage", "not-a-token".to_string()),
    ];
    for (name, token) in attacks {
        let response = app
            .authed(Method::GET, "/v1/me", &token)
            .send()
            .await
            .unwrap();
        let expected = if name.ends_with("(control)") {
            200
        } else {
            401
        };
        assert_eq!(response.status().as_u16(), expected, "{name}");
        if expected == 401 {
            assert!(
                response.headers()["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer"),
                "{name}"
            );
            assert_problem(response, 401).await;
        }
    }
}

#[actix_web::test]
async fn a_token_in_the_query_string_is_refused_even_when_valid() {
    let app = TestApp::spawn().await;
    let token = app.token_for(Role::Analyst, "umea").await;
    let response = app.get(&format!("/v1/me?access_token={token}")).await;
    assert_problem(response, 401).await;
    let both = app
        .authed(Method::GET, &format!("/v1/me?access_token={token}"), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        both.status(),
        401,
        "a token in the URL is refused even beside a header"
    );
}

#[actix_web::test]
async fn a_password_change_kills_older_access_tokens_and_other_sessions() {
    let app = TestApp::spawn().await;
    let user = app.create_user(Role::SocialServices, "mariehem");
    let laptop = app.login(&user).await;
    let phone = app.login(&user).await;
    let new_password = "lingonsylt på fredagsmys i juni";

    let weak = app
        .authed(
            Method::PUT,
            "/v1/me/password",
            laptop["access_token"].as_str().unwrap(),
        )
        .json(&json!({"current_password": PASSWORD, "new_password": "password1234"}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(weak, 422).await;
    assert_eq!(problem["errors"][0]["field"], "new_password");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("too easy to guess"),
        "{problem}"
    );

    let changed = app
        .authed(
            Method::PUT,
            "/v1/me/password",
            laptop["access_token"].as_str().unwrap(),
        )
        .json(&json!({"current_password": PASSWORD, "new_password": new_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let fresh: Value = changed.json().await.unwrap();

    assert_eq!(
        me_status(&app, laptop["access_token"].as_str().unwrap()).await,
        401,
        "issued before the change"
    );
    assert_eq!(
        me_status(&app, phone["access_token"].as_str().unwrap()).await,
        401,
        "another session"
    );
    let phone_refresh = app
        .client
        .post(app.url("/v1/auth/refresh"))
        .json(&json!({"refresh_token": phone["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(phone_refresh.status(), 401);
    assert_eq!(
        me_status(&app, fresh["access_token"].as_str().unwrap()).await,
        200
    );
    assert_eq!(
        app.login_response(&user.username, PASSWORD).await.status(),
        401
    );
    assert_eq!(
        app.login_response(&user.username, new_password)
            .await
            .status(),
        200
    );
}

#[actix_web::test]
async fn a_one_megabyte_password_is_refused_fast_and_malformed_login_bodies_get_problems() {
    let app = TestApp::spawn().await;
    let huge = "x".repeat(1024 * 1024);
    let response = app.login_response("anyone", &huge).await;
    assert_problem(response, 413).await;

    let malformed = app
        .client
        .post(app.url("/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();
    assert_problem(malformed, 400).await;
    let text = app
        .client
        .post(app.url("/v1/auth/login"))
        .header("content-type", "text/plain")
        .body("username=a")
        .send()
        .await
        .unwrap();
    assert_problem(text, 415).await;
    let unknown = app
        .client
        .post(app.url("/v1/auth/login"))
        .json(&json!({"username": "a", "password": "b", "remember_me": true}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(unknown, 422).await;
    assert_eq!(problem["errors"][0]["field"], "remember_me");
    let nul = app
        .client
        .post(app.url("/v1/auth/login"))
        .json(&json!({"username": "anna\u{0}", "password": "b"}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(nul, 422).await;
    assert_eq!(
        (
            problem["errors"][0]["field"].as_str(),
            problem["errors"][0]["code"].as_str()
        ),
        (Some("username"), Some("control_character"))
    );
    let wrong_type = app
        .client
        .post(app.url("/v1/auth/login"))
        .json(&json!({"username": 42, "password": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        assert_problem(wrong_type, 422).await["errors"][0]["field"],
        "username"
    );
}
