//! The browser pages over HTTP (issue 14): sign-in with a strict cookie, CSRF on every
//! form, the session ending with the account, permission and scope as 403 pages, the
//! API's reasons next to the field, no count below the threshold in any page, and the
//! Utforska download equal to the API's CSV. The same pages in a real browser, with
//! axe-core, are `tests/browser/`.

use lagesbild::domain::identity::Role;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};

use crate::helpers::{PASSWORD, TestApp, TestUser, today, week};

pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// `name=value` of the cookie `name` in `response`.
fn cookie_pair(response: &reqwest::Response, name: &str) -> Option<String> {
    set_cookies(response)
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

/// The sign-in form's token and its cookie.
async fn login_form(app: &TestApp) -> (String, String) {
    let response = app.get("/login").await;
    assert_eq!(response.status(), 200);
    let cookie = cookie_pair(&response, "lagesbild_login").expect("a form cookie");
    let html = response.text().await.unwrap();
    let token = html
        .split("name=\"form_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a form token")
        .to_owned();
    (token, cookie)
}

async fn post_login(
    app: &TestApp,
    username: &str,
    password: &str,
    next: &str,
) -> reqwest::Response {
    let (token, cookie) = login_form(app).await;
    app.client
        .post(app.url("/login"))
        .header(COOKIE, cookie)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[
            ("username", username),
            ("password", password),
            ("next", next),
            ("form_token", &token),
        ]))
        .send()
        .await
        .unwrap()
}

/// Signs `user` in through the page and returns the session cookie (`name=value`).
pub(crate) async fn sign_in(app: &TestApp, user: &TestUser) -> String {
    let response = post_login(app, &user.username, PASSWORD, "/").await;
    assert_eq!(response.status(), 303);
    cookie_pair(&response, "lagesbild_session").expect("a session cookie")
}

pub(crate) async fn page(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap()
}

pub(crate) fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF field")
        .to_owned()
}

async fn app_with_history() -> TestApp {
    let app = TestApp::spawn().await;
    lagesbild::services::demo::generate(&mut app.db(), today(), 60, 7, |_, _| {}).unwrap();
    app
}

#[actix_web::test]
async fn signing_in_sets_a_strict_http_only_cookie_and_returns_to_the_page_asked_for() {
    let app = TestApp::spawn().await;
    let user = app.create_user(Role::Coordinator, "umea");

    // A page without a session sends the browser to sign in, remembering where it was.
    let asked = "/utforska?by=category&period=month";
    let response = app.get(asked).await;
    assert_eq!(response.status(), 303);
    let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        "/login?next=%2Futforska%3Fby%3Dcategory%26period%3Dmonth"
    );

    // The sign-in page: a strict policy, no inline script or style anywhere.
    let login = app.get(&location).await;
    let csp = login.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
    let html = login.text().await.unwrap();
    assert!(html.contains("<html lang=\"sv\">"));
    assert!(
        !html.contains("<script>") && !html.contains(" style="),
        "{html}"
    );

    let wrong = post_login(&app, &user.username, "not the password", asked).await;
    assert_eq!(wrong.status(), 401);
    assert!(cookie_pair(&wrong, "lagesbild_session").is_none());
    let html = wrong.text().await.unwrap();
    assert!(html.contains("Fel användarnamn eller lösenord."), "{html}");
    assert!(
        html.contains(&format!("value=\"{}\"", user.username)),
        "the username is kept"
    );

    let response = post_login(&app, &user.username, PASSWORD, asked).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()[LOCATION], asked);
    let cookie = set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("lagesbild_session="))
        .unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP: no Secure flag, {cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    let shown = page(&app, asked, &session).await;
    assert_eq!(shown.status(), 200);
    assert!(
        shown.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    // Another site's address is never a place to return to.
    let response = post_login(&app, &user.username, PASSWORD, "//evil.example/").await;
    assert_eq!(response.headers()[LOCATION], "/");
}

#[actix_web::test]
async fn behind_tls_the_cookie_is_secure_and_host_prefixed() {
    let app = TestApp::spawn_with(|s| s.http.secure_cookies = true).await;
    let user = app.create_user(Role::Coordinator, "umea");
    let response = app.get("/login").await;
    let form_cookie =
        cookie_pair(&response, "__Host-lagesbild_login").expect("a __Host- form cookie");
    let html = response.text().await.unwrap();
    let token = html
        .split("name=\"form_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let response = app
        .client
        .post(app.url("/login"))
        .header(COOKIE, form_cookie)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[
            ("username", &user.username),
            ("password", PASSWORD),
            ("form_token", &token),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let cookie = set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("__Host-lagesbild_session="))
        .expect("a __Host- session cookie");
    for flag in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
}

#[actix_web::test]
async fn a_post_without_its_csrf_token_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let user = app.create_user(Role::Coordinator, "umea");

    // Sign-in without the form's token (another site posting to it): 403, no session.
    let response = app
        .client
        .post(app.url("/login"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[
            ("username", &user.username),
            ("password", PASSWORD),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(cookie_pair(&response, "lagesbild_session").is_none());

    let session = sign_in(&app, &user).await;
    let html = page(&app, "/", &session).await.text().await.unwrap();
    let csrf = csrf_of(&html);
    for body in [String::new(), form(&[("csrf", "forged")])] {
        let response = app
            .client
            .post(app.url("/logout"))
            .header(COOKIE, &session)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        assert!(response.text().await.unwrap().contains("Ingen behörighet"));
    }
    assert_eq!(
        page(&app, "/", &session).await.status(),
        200,
        "still signed in"
    );

    // With the token: the session ends, on the server too.
    let response = app
        .client
        .post(app.url("/logout"))
        .header(COOKIE, &session)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[("csrf", &csrf)]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()[LOCATION], "/login");
    assert!(
        set_cookies(&response)
            .iter()
            .any(|c| c.starts_with("lagesbild_session=;") && c.contains("Max-Age=0"))
    );
    let again = page(&app, "/", &session).await;
    assert_eq!(again.status(), 303, "the old cookie no longer signs in");
}

#[actix_web::test]
async fn the_browser_session_ends_when_the_user_is_disabled_or_demoted() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin, "umea");
    let admin_token = app.login(&admin).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for change in [
        serde_json::json!({"disabled": true}),
        serde_json::json!({"role": "school"}),
    ] {
        let user = app.create_user(Role::Coordinator, "umea");
        let session = sign_in(&app, &user).await;
        assert_eq!(page(&app, "/", &session).await.status(), 200);
        let response = app
            .authed(
                Method::PATCH,
                &format!("/v1/users/{}", user.id),
                &admin_token,
            )
            .json(&change)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{change}");
        let after = page(&app, "/", &session).await.status();
        assert!(after == 303 || after == 403, "{change}: {after}");
    }
}

#[actix_web::test]
async fn pages_refuse_what_the_role_or_area_may_not_see_and_show_the_api_reason_at_the_field() {
    let app = TestApp::spawn().await;
    let reporter = app.create_user(Role::School, "umea");
    let session = sign_in(&app, &reporter).await;
    // A reporter's landing page is the signal form; the trends are not theirs.
    let landing = page(&app, "/", &session).await;
    assert_eq!(landing.status(), 303);
    assert_eq!(landing.headers()[LOCATION], "/rapportera");
    for path in ["/utforska", "/utforska.csv", "/insatser", "/rapport"] {
        let response = page(&app, path, &session).await;
        assert_eq!(response.status(), 403, "{path}");
        assert!(response.text().await.unwrap().contains("Ingen behörighet"));
    }

    let coordinator = app.create_user(Role::Coordinator, "umea");
    let session = sign_in(&app, &coordinator).await;
    let outside = page(&app, "/utforska?area=sollentuna", &session).await;
    assert_eq!(outside.status(), 403);

    let long = page(&app, "/utforska?from=2000-W01", &session).await;
    assert_eq!(long.status(), 422);
    let html = long.text().await.unwrap();
    assert!(
        html.contains(
            "<p class=\"field-error\" id=\"from-error\">för många perioder (högst 520): välj en kortare period</p>"
        ),
        "the API's reason, in Swedish: {html}"
    );
    // In English the API's own words.
    let english = page(&app, "/utforska?from=2000-W01&lang=en", &session).await;
    assert!(
        english
            .text()
            .await
            .unwrap()
            .contains("id=\"from-error\">at most 520 periods; narrow from and to</p>")
    );
    assert!(html.contains("value=\"2000-W01\""), "the input is kept");
    assert!(html.contains("aria-invalid=\"true\""));
}

/// Every number in a page's tables and alarm lists.
fn shown_counts(html: &str) -> Vec<String> {
    let mut counts = Vec::new();
    for marker in [
        "<td class=\"num\" data-count>",
        "<td class=\"num\">",
        "<span class=\"count\">",
    ] {
        for part in html.split(marker).skip(1) {
            counts.push(part.split('<').next().unwrap_or_default().to_owned());
        }
    }
    counts
}

#[actix_web::test]
async fn no_page_shows_a_count_below_the_threshold_and_the_download_is_the_api_csv() {
    let app = app_with_history().await;
    let user = app.create_user(Role::Coordinator, "umea");
    let session = sign_in(&app, &user).await;
    let (from, to) = (week(-51), week(0));
    let mut seen = 0;
    let mut suppressed = 0;
    for path in [
        "/".to_owned(),
        "/?lang=en".to_owned(),
        "/utforska".to_owned(),
        format!("/utforska?by=category&area=alidhem&from={from}&to={to}"),
        format!("/utforska?by=age_band&period=month&from={from}&to={to}"),
        format!("/utforska?by=source&category=digital_recruitment&from={from}&to={to}"),
    ] {
        let response = page(&app, &path, &session).await;
        assert_eq!(response.status(), 200, "{path}");
        let html = response.text().await.unwrap();
        for text in shown_counts(&html) {
            seen += 1;
            if text == "&#60;5" {
                suppressed += 1;
                continue;
            }
            let number = text
                .trim_start_matches("minst ")
                .trim_start_matches("at least ");
            if let Ok(n) = number.parse::<i64>() {
                assert!(n == 0 || n >= 5, "{path} shows {n}");
            } else {
                assert!(text.starts_with('–'), "{path}: unexpected cell {text:?}");
            }
        }
    }
    assert!(
        seen > 2_000 && suppressed > 50,
        "{seen} numbers, {suppressed} suppressed"
    );

    // The download holds exactly what the page shows: the API's CSV for the same query.
    let query = format!("by=category&area=alidhem&period=week&from={from}&to={to}");
    let download = page(&app, &format!("/utforska.csv?{query}"), &session).await;
    assert_eq!(download.status(), 200);
    assert!(
        download.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let download = download.text().await.unwrap();
    let token = app.login(&user).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let api = app
        .authed(
            Method::GET,
            &format!("/v1/trends?{query}&area_level=district&format=csv"),
            &token,
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(download, api);
    assert!(
        download.lines().count() > 13 * 52,
        "{}",
        download.lines().count()
    );
}

#[actix_web::test]
async fn a_coordinator_registers_an_intervention_on_its_page_and_reads_its_effect_and_the_report() {
    let app = app_with_history().await;
    let user = app.create_user(Role::Coordinator, "umea");
    let session = sign_in(&app, &user).await;
    let list = page(&app, "/insatser", &session).await;
    assert_eq!(list.status(), 200);
    let csrf = csrf_of(&list.text().await.unwrap());
    let post = |body: String| {
        app.client
            .post(app.url("/insatser"))
            .header(COOKIE, &session)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let stored = || {
        use diesel::RunQueryDsl;
        diesel::sql_query("SELECT count(*) AS n FROM interventions")
            .get_result::<Count>(&mut app.db())
            .unwrap()
            .n
    };
    let start = week(-10);

    // A phone number in the name, no categories: the API's reasons at the fields, the
    // input kept, nothing stored.
    let refused = post(form(&[
        ("csrf", &csrf),
        ("name", "Fältgrupp 070-123 45 67"),
        ("area", "ostra-ersboda"),
        ("level", "selective"),
        ("age_bands", "13-15"),
        ("start_week", &start),
    ]))
    .await
    .unwrap();
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("id=\"name-error\">får inte innehålla personuppgifter"),
        "{html}"
    );
    assert!(html.contains("id=\"categories-error\">"), "{html}");
    assert!(
        html.contains("value=\"Fältgrupp 070-123 45 67\""),
        "the name is kept"
    );
    assert!(
        html.contains("value=\"13-15\" checked"),
        "the choices are kept"
    );
    assert_eq!(stored(), 0);

    // Without the CSRF value: 403, nothing stored.
    let forged = post(form(&[
        ("name", "Fältgrupp Ersboda"),
        ("area", "ostra-ersboda"),
    ]))
    .await
    .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(stored(), 0);

    let created = post(form(&[
        ("csrf", &csrf),
        ("name", "Fältgrupp Ersboda"),
        ("area", "ostra-ersboda"),
        ("level", "selective"),
        ("categories", "digital_recruitment"),
        ("categories", "recruitment_approach"),
        ("age_bands", "13-15"),
        ("age_bands", "16-17"),
        ("start_week", &start),
    ]))
    .await
    .unwrap();
    assert_eq!(created.status(), 303);
    let location = created.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(stored(), 1);
    let effect = page(&app, &location, &session).await;
    assert_eq!(effect.status(), 200);
    let html = effect.text().await.unwrap();
    assert!(html.contains("Fältgrupp Ersboda"));
    assert!(html.contains("Nivåförändring vid starten"), "{html}");
    assert!(
        html.contains("class=\"counterfactual\""),
        "the counterfactual is drawn"
    );
    // The effect in words agrees with the API's estimate.
    let token = app.login(&user).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = location.trim_start_matches("/insatser/");
    let report = app
        .get_json(&format!("/v1/interventions/{id}/effect"), &token)
        .await;
    let ratio = report["level_change"]["rate_ratio"].as_f64().unwrap();
    let shown = format!("× {:.2}", ratio).replace('.', ",");
    assert!(html.contains(&shown), "{shown} not in the page");
    for text in shown_counts(&html) {
        if let Ok(n) = text.trim_start_matches("minst ").parse::<i64>() {
            assert!(n == 0 || n >= 5, "the effect table shows {n}");
        }
    }

    // Ending it: a week before its start is refused at the field, in Swedish, and
    // changes nothing; a right one is stored and shown.
    let end = |end_week: String| {
        app.client
            .post(app.url(&format!("{location}/slut")))
            .header(COOKIE, &session)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form(&[("csrf", &csrf), ("end_week", &end_week)]))
            .send()
    };
    let early = end(week(-11)).await.unwrap();
    assert_eq!(early.status(), 422);
    let html = early.text().await.unwrap();
    assert!(
        html.contains("id=\"end_week-error\">ligger före startveckan"),
        "{html}"
    );
    assert!(
        html.contains(&format!("value=\"{}\"", week(-11))),
        "the input is kept"
    );
    let ended = end(week(-1)).await.unwrap();
    assert_eq!(ended.status(), 303);
    let html = page(&app, &location, &session).await.text().await.unwrap();
    assert!(
        html.contains(&format!("id=\"weeks\">{start} – {}</dd>", week(-1))),
        "{html}"
    );

    let report = page(&app, "/rapport", &session).await;
    assert_eq!(report.status(), 200);
    let html = report.text().await.unwrap();
    assert!(
        html.contains("Fältgrupp Ersboda"),
        "the report lists the intervention"
    );
    assert!(html.contains("Om metoden och skyddet"));
    for text in shown_counts(&html) {
        if let Ok(n) = text.trim_start_matches("minst ").parse::<i64>() {
            assert!(n == 0 || n >= 5, "the report shows {n}");
        }
    }
    let bad = page(&app, "/rapport?to=2026-W99", &session).await;
    assert_eq!(bad.status(), 422);
    assert!(bad.text().await.unwrap().contains("id=\"to-error\""));
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// A form post to `path` with the session cookie, ready to send.
pub(crate) fn form_post(
    app: &TestApp,
    path: &str,
    session: &str,
    pairs: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    app.client
        .post(app.url(path))
        .header(COOKIE, session)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(pairs))
}

/// Posts a form to `path` with the session cookie.
pub(crate) async fn post_form(
    app: &TestApp,
    path: &str,
    session: &str,
    pairs: &[(&str, &str)],
) -> reqwest::Response {
    form_post(app, path, session, pairs).send().await.unwrap()
}

#[actix_web::test]
async fn an_admin_manages_users_and_service_tokens_on_pages_with_the_api_rules() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin, "umea");
    let session = sign_in(&app, &admin).await;
    let users = || {
        use diesel::RunQueryDsl;
        diesel::sql_query("SELECT count(*) AS n FROM users")
            .get_result::<Count>(&mut app.db())
            .unwrap()
            .n
    };

    // An admin reads no trends: the landing page is Administration.
    let landing = page(&app, "/", &session).await;
    assert_eq!(landing.status(), 303);
    assert_eq!(landing.headers()[LOCATION], "/admin");
    let list = page(&app, "/admin", &session).await;
    assert_eq!(list.status(), 200);
    let html = list.text().await.unwrap();
    assert!(html.contains(&admin.username), "the admin is listed");
    let csrf = csrf_of(&html);
    let before = users();

    // A guessable password, a new admin without the step-up: the reasons at the fields
    // in Swedish, the username kept, nothing stored. Without the CSRF value: 403.
    let weak = post_form(
        &app,
        "/admin/anvandare",
        &session,
        &[
            ("csrf", &csrf),
            ("username", "ny.samordnare"),
            ("kind", "person"),
            ("role", "coordinator"),
            ("area", "umea"),
            ("password", "password1234"),
        ],
    )
    .await;
    assert_eq!(weak.status(), 422);
    let html = weak.text().await.unwrap();
    assert!(
        html.contains("id=\"password-error\">lösenordet är för kort eller för lätt att gissa"),
        "{html}"
    );
    assert!(
        html.contains("value=\"ny.samordnare\""),
        "the username is kept"
    );
    let step_up = post_form(
        &app,
        "/admin/anvandare",
        &session,
        &[
            ("csrf", &csrf),
            ("username", "ny.admin"),
            ("kind", "person"),
            ("role", "admin"),
            ("area", "umea"),
            ("password", "fyra ord som ingen gissar"),
        ],
    )
    .await;
    assert_eq!(step_up.status(), 422);
    assert!(
        step_up
            .text()
            .await
            .unwrap()
            .contains("id=\"current_password-error\">måste fyllas i")
    );
    let forged = post_form(
        &app,
        "/admin/anvandare",
        &session,
        &[
            ("username", "ny.samordnare"),
            ("kind", "person"),
            ("role", "coordinator"),
            ("area", "umea"),
            ("password", "fyra ord som ingen gissar"),
        ],
    )
    .await;
    assert_eq!(forged.status(), 403);
    assert_eq!(users(), before);

    // A person: created, and signs in with the password given.
    let created = post_form(
        &app,
        "/admin/anvandare",
        &session,
        &[
            ("csrf", &csrf),
            ("username", "ny.samordnare"),
            ("kind", "person"),
            ("role", "coordinator"),
            ("area", "ostra-ersboda"),
            ("password", "fyra ord som ingen gissar"),
        ],
    )
    .await;
    assert_eq!(created.status(), 303);
    let person_page = created.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(users(), before + 1);
    assert_eq!(
        app.login_response("ny.samordnare", "fyra ord som ingen gissar")
            .await
            .status(),
        200
    );

    // Disabled on its page: it can no longer sign in.
    let disabled = post_form(
        &app,
        &person_page,
        &session,
        &[
            ("csrf", &csrf),
            ("role", "coordinator"),
            ("area", "ostra-ersboda"),
            ("status", "disabled"),
        ],
    )
    .await;
    assert_eq!(disabled.status(), 303);
    let html = page(&app, &format!("{person_page}?sparad=1"), &session)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Ändringen är sparad."));
    assert!(html.contains("id=\"status-now\">Avstängd"), "{html}");
    assert_eq!(
        app.login_response("ny.samordnare", "fyra ord som ingen gissar")
            .await
            .status(),
        401
    );
    // Demoting the last admin of the area is refused at the status, nothing changed.
    let own_page = format!("/admin/anvandare/{}", admin.id);
    let last = post_form(
        &app,
        &own_page,
        &session,
        &[
            ("csrf", &csrf),
            ("role", "admin"),
            ("area", "umea"),
            ("status", "disabled"),
        ],
    )
    .await;
    assert_eq!(last.status(), 422);
    assert!(
        last.text()
            .await
            .unwrap()
            .contains("id=\"status-error\">det skulle lämna området utan en aktiv administratör")
    );
    assert_eq!(
        page(&app, "/admin", &session).await.status(),
        200,
        "still an admin"
    );

    // A service account gets a token: the secret shown once, and it reads the API.
    let service = post_form(
        &app,
        "/admin/anvandare",
        &session,
        &[
            ("csrf", &csrf),
            ("username", "powerbi"),
            ("kind", "service"),
            ("role", "analyst"),
            ("area", "umea"),
        ],
    )
    .await;
    assert_eq!(service.status(), 303);
    let service_page = service.headers()[LOCATION].to_str().unwrap().to_owned();
    let too_long = post_form(
        &app,
        &format!("{service_page}/nycklar"),
        &session,
        &[
            ("csrf", &csrf),
            ("name", "Power BI"),
            ("permissions", "trends:read"),
            ("expires_in_days", "401"),
        ],
    )
    .await;
    assert_eq!(too_long.status(), 422);
    assert!(
        too_long
            .text()
            .await
            .unwrap()
            .contains("id=\"expires_in_days-error\">")
    );
    let minted = post_form(
        &app,
        &format!("{service_page}/nycklar"),
        &session,
        &[
            ("csrf", &csrf),
            ("name", "Power BI, kommunledningen"),
            ("permissions", "trends:read"),
            ("permissions", "reference:read"),
            ("expires_in_days", "30"),
        ],
    )
    .await;
    // Redirected to the user's page (a reload mints nothing), the secret carried in a
    // strict one-minute cookie, shown once on the page, and the cookie cleared.
    assert_eq!(minted.status(), 303);
    assert_eq!(minted.headers()[LOCATION], service_page.as_str());
    let carried = cookie_pair(&minted, "lagesbild_new_token").expect("the secret's cookie");
    let flags = set_cookies(&minted).join("; ");
    assert!(
        flags.contains("HttpOnly")
            && flags.contains("SameSite=Strict")
            && flags.contains("Max-Age=60"),
        "{flags}"
    );
    let shown = page(&app, &service_page, &format!("{session}; {carried}")).await;
    assert_eq!(shown.headers()["cache-control"], "no-store");
    assert!(
        set_cookies(&shown)
            .iter()
            .any(|c| c.starts_with("lagesbild_new_token=;") && c.contains("Max-Age=0"))
    );
    let html = shown.text().await.unwrap();
    let secret = html
        .split("<code id=\"token-secret\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the secret on the page")
        .to_owned();
    assert!(secret.starts_with("lgb_"), "{secret}");
    let alerts = app
        .authed(Method::GET, "/v1/alerts", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(alerts.status(), 200);
    // Shown once: the page read again lists the token, never its secret.
    let again = page(&app, &service_page, &session)
        .await
        .text()
        .await
        .unwrap();
    assert!(again.contains("Power BI, kommunledningen"));
    assert!(!again.contains(&secret));

    // Revoked from the list: the token stops working at once.
    let token_id = again
        .split("action=\"/admin/nycklar/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("a revoke form")
        .to_owned();
    let revoked = post_form(
        &app,
        &format!("/admin/nycklar/{token_id}/aterkalla"),
        &session,
        &[
            ("csrf", &csrf),
            (
                "owner",
                service_page.trim_start_matches("/admin/anvandare/"),
            ),
        ],
    )
    .await;
    assert_eq!(revoked.status(), 303);
    assert_eq!(revoked.headers()[LOCATION], service_page.as_str());
    let alerts = app
        .authed(Method::GET, "/v1/alerts", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(alerts.status(), 401);

    // Not for coordinators.
    let coordinator = app.create_user(Role::Coordinator, "umea");
    let session = sign_in(&app, &coordinator).await;
    assert_eq!(page(&app, "/admin", &session).await.status(), 403);
}

/// `area/category` of each alarm in the list `id` of a page (empty when it has none).
fn alarms_listed(html: &str, id: &str) -> Vec<String> {
    let Some(list) = html
        .split(&format!("<ul class=\"alarms\" id=\"{id}\">"))
        .nth(1)
        .and_then(|rest| rest.split("\n</ul>").next())
    else {
        return Vec::new();
    };
    let mut found: Vec<String> = list
        .split("data-area=\"")
        .skip(1)
        .map(|item| {
            let area = item.split('"').next().unwrap();
            let category = item
                .split("data-category=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            format!("{area}/{category}")
        })
        .collect();
    found.sort();
    found
}

#[actix_web::test]
async fn oversikt_lists_the_same_alarms_as_the_api_for_this_week_and_last() {
    let app = app_with_history().await;
    // A surge last week in Teg, so that at least one list is sure to hold an alarm
    // (the demo's own rise may or may not alarm in these two weeks, noise decides).
    let school = app.token_for(Role::School, "umea").await;
    let surge: Vec<serde_json::Value> = (0..60)
        .map(|_| serde_json::json!({"area": "teg", "age_band": "13-15", "category": "digital_recruitment",
                                    "arena": "social_media", "observed_week": week(-1)}))
        .collect();
    let filed = app
        .authed(Method::POST, "/v1/signals/batch", &school)
        .json(&serde_json::json!({ "signals": surge }))
        .send()
        .await
        .unwrap();
    assert_eq!(filed.status(), 201);
    let user = app.create_user(Role::Coordinator, "umea");
    let session = sign_in(&app, &user).await;
    let html = page(&app, "/", &session).await.text().await.unwrap();
    let token = app.login(&user).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut shown = 0;
    for (offset, id) in [(0, "alarms"), (-1, "last-week-alarms")] {
        let report = app
            .get_json(&format!("/v1/alerts?week={}", week(offset)), &token)
            .await;
        let mut expected: Vec<String> = report["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                format!(
                    "{}/{}",
                    a["area"].as_str().unwrap(),
                    a["category"].as_str().unwrap()
                )
            })
            .collect();
        expected.sort();
        assert_eq!(alarms_listed(&html, id), expected, "{id}");
        shown += expected.len();
    }
    assert!(
        shown > 0,
        "the demo data's planted rise raises alarms in these weeks"
    );
}
