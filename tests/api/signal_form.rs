//! Rapportera and Mina signaler over HTTP (issue 15): the form a reporter files from a
//! phone stores a signal once however often the same form is posted (a double tap, a
//! retry after a lost answer), a tampered form gets the API's reason at its field and
//! stores nothing, and the script's JSON answers say what to do next. The offline queue
//! itself runs in a real browser: `tests/browser/`.

use diesel::prelude::*;
use diesel::sql_query;
use lagesbild::domain::identity::Role;
use reqwest::Method;
use reqwest::header::{ACCEPT, LOCATION};
use serde_json::{Value, json};

use crate::helpers::{TestApp, week};
use crate::pages::{csrf_of, form_post, page, post_form, sign_in};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// How many live signals `user` has stored.
fn stored_by(app: &TestApp, user: uuid::Uuid) -> i64 {
    sql_query(format!(
        "SELECT count(*) AS n FROM signals WHERE submitted_by = '{user}'"
    ))
    .get_result::<Count>(&mut app.db())
    .unwrap()
    .n
}

/// The value of the hidden field `name` in a page.
fn hidden(html: &str, name: &str) -> String {
    html.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no field {name}"))
        .to_owned()
}

/// A filled form: these choices, this form's key and CSRF value.
fn filled(csrf: &str, key: &str, week: &str) -> Vec<(String, String)> {
    [
        ("csrf", csrf),
        ("key", key),
        ("area", "teg"),
        ("age_band", "13-15"),
        ("category", "digital_recruitment"),
        ("arena", "social_media"),
        ("gender", "girl"),
        ("observed_week", week),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// `pairs` with `name` set to `value`.
fn set(mut pairs: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    for pair in &mut pairs {
        if pair.0 == name {
            pair.1 = value.to_owned();
        }
    }
    pairs
}

fn refs(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// Posts the form as `report.js` does: asking for JSON.
async fn post_json(app: &TestApp, session: &str, pairs: &[(&str, &str)]) -> reqwest::Response {
    form_post(app, "/rapportera", session, pairs)
        .header(ACCEPT, "application/json")
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_reporter_files_a_signal_once_however_often_the_same_form_is_posted() {
    let app = TestApp::spawn().await;
    let reporter = app.create_user(Role::School, "umea");
    let session = sign_in(&app, &reporter).await;

    // A reporter lands on the form; it has choices only, and only the reporter's districts.
    let landing = page(&app, "/", &session).await;
    assert_eq!(landing.status(), 303);
    assert_eq!(landing.headers()[LOCATION], "/rapportera");
    let html = page(&app, "/rapportera", &session)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !html.contains("type=\"text\"") && !html.contains("<textarea"),
        "no text input"
    );
    assert!(html.contains("<option value=\"teg\""), "Teg is in Umeå");
    assert!(
        !html.contains("value=\"edsberg\""),
        "Sollentuna's districts are not offered"
    );
    assert!(
        html.contains("Kontaktad via sociala medier"),
        "categories with their descriptions"
    );
    assert!(html.contains("rel=\"manifest\""), "installable");
    let (csrf, key) = (csrf_of(&html), hidden(&html, "key"));
    let this_week = week(0);

    // Posted twice (a double tap, a browser retry): one signal, the same receipt.
    let first = post_form(
        &app,
        "/rapportera",
        &session,
        &refs(&filled(&csrf, &key, &this_week)),
    )
    .await;
    assert_eq!(first.status(), 303);
    let receipt = first.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(receipt.starts_with("/rapportera?kvitto="), "{receipt}");
    let again = post_form(
        &app,
        "/rapportera",
        &session,
        &refs(&filled(&csrf, &key, &this_week)),
    )
    .await;
    assert_eq!(again.headers()[LOCATION].to_str().unwrap(), receipt);
    assert_eq!(stored_by(&app, reporter.id), 1);
    let shown = page(&app, &receipt, &session).await.text().await.unwrap();
    assert!(shown.contains("Signalen är mottagen."), "{shown}");
    assert!(
        shown.contains("Teg · 13–15 år"),
        "the receipt names what was filed: {shown}"
    );
    let id = receipt.trim_start_matches("/rapportera?kvitto=");
    let login = app.login(&reporter).await;
    let token = login["access_token"].as_str().unwrap();
    let mine = app.get_json("/v1/signals/mine", token).await;
    assert_eq!(mine["items"][0]["id"], id);
    assert_eq!(mine["items"][0]["area"], "teg");
    assert_eq!(mine["items"][0]["gender"], "girl");

    // The script's way: JSON, its own key; a lost answer retried gets the same signal.
    let script_key = "0b6c1f9e-4a57-4cf0-9d55-1c2d3e4f5a6b";
    let sent = post_json(
        &app,
        &session,
        &refs(&filled(&csrf, script_key, &this_week)),
    )
    .await;
    assert_eq!(sent.status(), 201);
    let stored: Value = sent.json().await.unwrap();
    let retried = post_json(
        &app,
        &session,
        &refs(&filled(&csrf, script_key, &this_week)),
    )
    .await;
    assert!(retried.status().is_success());
    assert_eq!(retried.json::<Value>().await.unwrap()["id"], stored["id"]);
    assert_eq!(stored_by(&app, reporter.id), 2);

    // The same key with other choices: refused, not a second signal.
    let changed = set(filled(&csrf, script_key, &this_week), "age_band", "16-17");
    let conflict = post_json(&app, &session, &refs(&changed)).await;
    assert_eq!(conflict.status(), 409);
    assert_eq!(
        conflict.json::<Value>().await.unwrap()["problem"],
        "conflict"
    );
    let on_page = post_form(&app, "/rapportera", &session, &refs(&changed)).await;
    assert_eq!(on_page.status(), 422);
    assert!(
        on_page
            .text()
            .await
            .unwrap()
            .contains("redan skickats med andra val")
    );
    assert_eq!(stored_by(&app, reporter.id), 2);

    // The "same again" link fills the form with the latest signal.
    let html = page(&app, "/rapportera", &session)
        .await
        .text()
        .await
        .unwrap();
    let link = html
        .split("id=\"same-again\" class=\"button secondary\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a same-again link")
        .replace("&#38;", "&");
    let filled = page(&app, &link, &session).await.text().await.unwrap();
    for chosen in [
        "value=\"13-15\" checked",
        "value=\"digital_recruitment\" checked",
        "value=\"social_media\" checked",
        "value=\"girl\" checked",
    ] {
        assert!(filled.contains(chosen), "{chosen} in {link}");
    }
}

#[actix_web::test]
async fn a_tampered_or_forged_signal_form_gets_the_reason_at_its_field_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let reporter = app.create_user(Role::Police, "umea");
    let admin = app.token_for(Role::Admin, "sverige").await;
    let session = sign_in(&app, &reporter).await;
    let html = page(&app, "/rapportera", &session)
        .await
        .text()
        .await
        .unwrap();
    let (csrf, key) = (csrf_of(&html), hidden(&html, "key"));
    let deactivated = app
        .authed(Method::PATCH, "/v1/arenas/other", &admin)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(deactivated.status(), 200);

    let base = filled(&csrf, &key, &week(0));
    let too_old = week(-30);
    let cases = [
        (
            "area",
            "edsberg",
            "okänt område, eller ett område utanför ditt eget",
        ),
        ("area", "umea", "är inte en stadsdel"),
        ("arena", "other", "är avaktiverad"),
        ("observed_week", &week(1), "ligger i framtiden"),
        ("observed_week", &too_old, "är äldre än rättelsefönstret"),
        ("category", "", "välj ett alternativ"),
        ("gender", "unknown", "välj ett alternativ"),
    ];
    for (field, value, reason) in cases {
        let pairs = set(base.clone(), field, value);
        let response = post_form(&app, "/rapportera", &session, &refs(&pairs)).await;
        assert_eq!(response.status(), 422, "{field}={value}");
        let html = response.text().await.unwrap();
        let at_field = format!("<p class=\"field-error\" id=\"{field}-error\">");
        let message = html
            .split(&at_field)
            .nth(1)
            .and_then(|rest| rest.split("</p>").next())
            .unwrap_or_else(|| panic!("no reason at {field} for {value}: {html}"));
        assert!(message.contains(reason), "{field}={value}: {message}");
        // The script is told the same, by field.
        let json = post_json(&app, &session, &refs(&pairs)).await;
        assert_eq!(json.status(), 422);
        let body: Value = json.json().await.unwrap();
        assert_eq!(body["problem"], "invalid");
        assert!(
            body["fields"][field].as_str().unwrap().contains(reason),
            "{body}"
        );
    }
    // In English the API's own words.
    let english = post_form(
        &app,
        "/rapportera?lang=en",
        &format!("{session}; lagesbild_lang=en"),
        &refs(&set(base.clone(), "area", "edsberg")),
    )
    .await;
    assert!(
        english
            .text()
            .await
            .unwrap()
            .contains("no area `edsberg` in your area")
    );

    // Without its CSRF value, or without its key: refused.
    let forged = set(base.clone(), "csrf", "forged");
    let response = post_form(&app, "/rapportera", &session, &refs(&forged)).await;
    assert_eq!(response.status(), 403);
    let response = post_json(&app, &session, &refs(&forged)).await;
    assert_eq!(response.status(), 403);
    assert_eq!(response.json::<Value>().await.unwrap()["problem"], "csrf");
    let keyless: Vec<_> = base.iter().filter(|(k, _)| k != "key").cloned().collect();
    let response = post_form(&app, "/rapportera", &session, &refs(&keyless)).await;
    assert_eq!(response.status(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Blanketten är gammal")
    );
    assert_eq!(stored_by(&app, reporter.id), 0, "nothing stored");

    // Signed out, the script is told to sign in (the queue is kept), not redirected.
    let response = post_json(&app, "lagesbild_session=gone", &refs(&base)).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.json::<Value>().await.unwrap()["problem"],
        "sign_in"
    );
    let response = page(&app, "/rapportera/session.json", "lagesbild_session=gone").await;
    assert_eq!(response.status(), 401);
    let response = page(&app, "/rapportera/session.json", &session).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let who: Value = response.json().await.unwrap();
    assert_eq!(who["user"], reporter.id.to_string());
    assert_eq!(who["csrf"], csrf);

    // Who does not report has no form.
    let coordinator = app.create_user(Role::Coordinator, "umea");
    let theirs = sign_in(&app, &coordinator).await;
    assert_eq!(page(&app, "/rapportera", &theirs).await.status(), 403);
    let html = page(&app, "/", &theirs).await.text().await.unwrap();
    let pairs = set(base.clone(), "csrf", &csrf_of(&html));
    assert_eq!(
        post_form(&app, "/rapportera", &theirs, &refs(&pairs))
            .await
            .status(),
        403
    );
    assert_eq!(stored_by(&app, coordinator.id), 0);
}

#[actix_web::test]
async fn mina_signaler_lists_only_your_signals_and_retracts_within_the_correction_window() {
    let app = TestApp::spawn().await;
    let reporter = app.create_user(Role::FieldWorker, "umea");
    let other = app.create_user(Role::FieldWorker, "umea");
    let mut ids = Vec::new();
    for user in [&reporter, &reporter, &reporter, &other] {
        let token = app.login(user).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let response = app
            .authed(Method::POST, "/v1/signals", &token)
            .json(&crate::helpers::signal())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        ids.push(
            response.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // One of them filed long ago (as if the window had passed since).
    sql_query(format!(
        "UPDATE signals SET week = week - 70 WHERE id = '{}'",
        ids[0]
    ))
    .execute(&mut app.db())
    .unwrap();

    let session = sign_in(&app, &reporter).await;
    let html = page(&app, "/rapportera/mina", &session)
        .await
        .text()
        .await
        .unwrap();
    for own in &ids[..3] {
        assert!(html.contains(&format!("data-id=\"{own}\"")), "{own} listed");
    }
    assert!(
        !html.contains(&ids[3]),
        "another reporter's signal is not listed"
    );
    assert!(
        !html.contains(&format!("/rapportera/mina/{}/aterta", ids[0])),
        "too old to retract"
    );
    assert!(html.contains("kan inte längre ångras"));
    let csrf = csrf_of(&html);

    // Retract one: gone from the list and from the counts.
    let path = format!("/rapportera/mina/{}/aterta", ids[1]);
    assert_eq!(
        post_form(&app, &path, &session, &[]).await.status(),
        403,
        "no CSRF"
    );
    assert_eq!(stored_by(&app, reporter.id), 3);
    let response = post_form(&app, &path, &session, &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), 303);
    let after = response.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(stored_by(&app, reporter.id), 2);
    let html = page(&app, &after, &session).await.text().await.unwrap();
    assert!(html.contains("Signalen är ångrad"));
    assert!(!html.contains(&format!("data-id=\"{}\"", ids[1])));

    // Too old, someone else's, or not an id: nothing changes.
    let old = format!("/rapportera/mina/{}/aterta", ids[0]);
    let response = post_form(&app, &old, &session, &[("csrf", &csrf)]).await;
    let html = page(
        &app,
        response.headers()[LOCATION].to_str().unwrap(),
        &session,
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(html.contains("äldre än rättelsefönstret"), "{html}");
    let theirs = format!("/rapportera/mina/{}/aterta", ids[3]);
    assert_eq!(
        post_form(&app, &theirs, &session, &[("csrf", &csrf)])
            .await
            .status(),
        404
    );
    let junk = post_form(
        &app,
        "/rapportera/mina/nonsense/aterta",
        &session,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(junk.status(), 404);
    assert_eq!(stored_by(&app, reporter.id), 2);
    assert_eq!(stored_by(&app, other.id), 1);
}
