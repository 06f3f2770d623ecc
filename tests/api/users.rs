//! User administration, area scope, API tokens and the audit log.

use diesel::{QueryableByName, RunQueryDsl, sql_query};
use lagesbild::domain::identity::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_problem};

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.authed(method, path, token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

#[derive(QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

#[actix_web::test]
async fn an_admin_creates_a_person_whose_password_is_stored_as_argon2id() {
    let app = TestApp::spawn().await;
    let admin = app.token_for(Role::Admin, "umea").await;
    let created = send(&app, Method::POST, "/v1/users", &admin, Some(json!({
        "username": "Anna.Berg", "role": "school", "area": "teg", "kind": "person", "password": PASSWORD}))).await;
    assert_eq!(created.status(), 201);
    let user: Value = created.json().await.unwrap();
    assert_eq!(
        user["username"], "anna.berg",
        "usernames are case-insensitive, stored lower-case"
    );
    assert_eq!(user["area"], "teg");

    let stored: Text =
        sql_query("SELECT password_hash AS value FROM users WHERE username = 'anna.berg'")
            .get_result(&mut app.db())
            .unwrap();
    assert!(
        stored.value.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{}",
        stored.value
    );
    assert_eq!(
        app.login_response("ANNA.BERG", PASSWORD).await.status(),
        200
    );

    let again = send(&app, Method::POST, "/v1/users", &admin, Some(json!({
        "username": "anna.berg", "role": "police", "area": "teg", "kind": "person", "password": PASSWORD}))).await;
    assert_problem(again, 409).await;
}

#[actix_web::test]
async fn user_creation_refuses_weak_passwords_foreign_areas_and_passwords_for_service_accounts() {
    let app = TestApp::spawn().await;
    let admin = app.token_for(Role::Admin, "umea").await;
    let cases = [
        (
            json!({"username": "weak", "role": "school", "area": "teg", "kind": "person", "password": "sommar2026"}),
            "password",
        ),
        (
            json!({"username": "nopass", "role": "school", "area": "teg", "kind": "person"}),
            "password",
        ),
        (
            json!({"username": "svc", "role": "analyst", "area": "umea", "kind": "service", "password": PASSWORD}),
            "password",
        ),
        (
            json!({"username": "abroad", "role": "school", "area": "edsberg", "kind": "person", "password": PASSWORD}),
            "area",
        ),
        (
            json!({"username": "nowhere", "role": "school", "area": "atlantis", "kind": "person", "password": PASSWORD}),
            "area",
        ),
        (
            json!({"username": "x y", "role": "school", "area": "teg", "kind": "person", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "boss", "role": "emperor", "area": "teg", "kind": "person", "password": PASSWORD}),
            "role",
        ),
    ];
    for (body, field) in cases {
        let problem = assert_problem(
            send(&app, Method::POST, "/v1/users", &admin, Some(body.clone())).await,
            422,
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
    let count: Text = sql_query("SELECT count(*)::text AS value FROM users")
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(
        count.value, "1",
        "only the admin exists: nothing was stored"
    );
}

#[actix_web::test]
async fn an_umea_admin_can_neither_see_nor_change_a_sollentuna_user() {
    let app = TestApp::spawn().await;
    let admin = app.token_for(Role::Admin, "umea").await;
    let foreign = app.create_user(Role::School, "edsberg");
    let local = app.create_user(Role::School, "teg");

    let path = format!("/v1/users/{}", foreign.id);
    assert_problem(send(&app, Method::GET, &path, &admin, None).await, 404).await;
    assert_problem(
        send(
            &app,
            Method::PATCH,
            &path,
            &admin,
            Some(json!({"disabled": true})),
        )
        .await,
        404,
    )
    .await;
    let listed: Value = send(&app, Method::GET, "/v1/users", &admin, None)
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert!(names.contains(&local.username.as_str()));
    assert!(!names.contains(&foreign.username.as_str()));
    // Moving a local user into Sollentuna is refused the same way as an unknown area.
    let moved = send(
        &app,
        Method::PATCH,
        &format!("/v1/users/{}", local.id),
        &admin,
        Some(json!({"area": "edsberg"})),
    )
    .await;
    assert_eq!(
        assert_problem(moved, 422).await["errors"][0]["field"],
        "area"
    );
    // The foreign user still works.
    assert_eq!(
        app.login_response(&foreign.username, PASSWORD)
            .await
            .status(),
        200
    );
}

#[actix_web::test]
async fn disabling_a_user_or_changing_their_role_takes_effect_on_their_next_request() {
    let app = TestApp::spawn().await;
    let admin = app.token_for(Role::Admin, "umea").await;
    let user = app.create_user(Role::Coordinator, "umea");
    let token = app.login(&user).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/v1/users/{}", user.id);
    assert_eq!(
        send(&app, Method::GET, "/v1/users", &token, None)
            .await
            .status(),
        403
    );

    let promoted = send(
        &app,
        Method::PATCH,
        &path,
        &admin,
        Some(json!({"role": "admin", "current_password": PASSWORD})),
    )
    .await;
    assert_eq!(promoted.status(), 200);
    assert_eq!(
        send(&app, Method::GET, "/v1/users", &token, None)
            .await
            .status(),
        200,
        "the new role counts at once"
    );

    assert_eq!(
        send(
            &app,
            Method::PATCH,
            &path,
            &admin,
            Some(json!({"disabled": true}))
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        send(&app, Method::GET, "/v1/me", &token, None)
            .await
            .status(),
        401,
        "disabled: refused at once"
    );
    assert_eq!(
        app.login_response(&user.username, PASSWORD).await.status(),
        401
    );
}

#[actix_web::test]
async fn admins_reset_other_peoples_passwords_only_from_a_session_and_tokens_die_with_the_old_password()
 {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin, "umea");
    let token = app.login(&admin).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let own = send(
        &app,
        Method::PATCH,
        &format!("/v1/users/{}", admin.id),
        &token,
        Some(json!({"password": "lingonsylt på fredagsmys i juni"})),
    )
    .await;
    assert_eq!(
        assert_problem(own, 422).await["errors"][0]["code"],
        "own_account"
    );

    let user = app.create_user(Role::Analyst, "umea");
    let user_session = app.login(&user).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let minted: Value = send(
        &app,
        Method::POST,
        "/v1/api-tokens",
        &user_session,
        Some(json!({
        "name": "excel", "permissions": ["reference:read"], "expires_in_days": 30})),
    )
    .await
    .json()
    .await
    .unwrap();
    let api_token = minted["token"].as_str().unwrap().to_string();
    let admin_api_token: Value = send(
        &app,
        Method::POST,
        "/v1/api-tokens",
        &token,
        Some(json!({
        "name": "automation", "permissions": ["users:manage"], "expires_in_days": 30})),
    )
    .await
    .json()
    .await
    .unwrap();
    let via_token = send(
        &app,
        Method::PATCH,
        &format!("/v1/users/{}", user.id),
        admin_api_token["token"].as_str().unwrap(),
        Some(json!({"password": "lingonsylt på fredagsmys i juni"})),
    )
    .await;
    assert_problem(via_token, 403).await;

    let reset = send(
        &app,
        Method::PATCH,
        &format!("/v1/users/{}", user.id),
        &token,
        Some(json!({"password": "lingonsylt på fredagsmys i juni"})),
    )
    .await;
    assert_eq!(reset.status(), 200);
    assert_eq!(
        send(&app, Method::GET, "/v1/me", &user_session, None)
            .await
            .status(),
        401,
        "the session ended"
    );
    assert_eq!(
        send(&app, Method::GET, "/v1/me", &api_token, None)
            .await
            .status(),
        401,
        "the API token died too"
    );
    assert_eq!(
        app.login_response(&user.username, "lingonsylt på fredagsmys i juni")
            .await
            .status(),
        200
    );
}

#[actix_web::test]
async fn the_last_active_admin_of_an_area_cannot_be_disabled_or_demoted() {
    let app = TestApp::spawn().await;
    let first = app.create_user(Role::Admin, "umea");
    let token = app.login(&first).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/v1/users/{}", first.id);
    assert_problem(
        send(
            &app,
            Method::PATCH,
            &path,
            &token,
            Some(json!({"disabled": true})),
        )
        .await,
        409,
    )
    .await;
    assert_problem(
        send(
            &app,
            Method::PATCH,
            &path,
            &token,
            Some(json!({"role": "analyst"})),
        )
        .await,
        409,
    )
    .await;

    let second = app.create_user(Role::Admin, "umea");
    assert_eq!(
        send(
            &app,
            Method::PATCH,
            &format!("/v1/users/{}", second.id),
            &token,
            Some(json!({"role": "analyst"}))
        )
        .await
        .status(),
        200
    );
    app.create_user(Role::Admin, "vasterbotten");
    assert_eq!(
        send(
            &app,
            Method::PATCH,
            &path,
            &token,
            Some(json!({"role": "analyst"}))
        )
        .await
        .status(),
        200,
        "a regional admin covers Umeå"
    );
}

#[actix_web::test]
async fn an_api_token_is_shown_once_works_narrowly_records_use_and_dies_when_revoked() {
    let app = TestApp::spawn().await;
    let admin = app.token_for(Role::Admin, "umea").await;
    let bi = app.create_service_account(Role::Analyst, "umea");
    let created = send(&app, Method::POST, "/v1/api-tokens", &admin, Some(json!({
        "name": "Power BI", "user_id": bi.id, "permissions": ["reference:read"], "expires_in_days": 365}))).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let secret = created["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("lgb_"));

    let me: Value = send(&app, Method::GET, "/v1/me", &secret, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        me["permissions"],
        json!(["reference:read"]),
        "the token's subset, not the role's"
    );
    assert_eq!(me["authenticated_with"], "api_token");
    assert_eq!(
        send(&app, Method::GET, "/v1/areas", &secret, None)
            .await
            .status(),
        200
    );

    let listed: Value = send(&app, Method::GET, "/v1/api-tokens", &admin, None)
        .await
        .json()
        .await
        .unwrap();
    let row = &listed.as_array().unwrap()[0];
    assert!(row["last_used_at"].is_string(), "{row}");
    assert!(
        row.get("token").is_none() && !listed.to_string().contains(&secret),
        "the secret is never shown again"
    );
    let stored: Text = sql_query("SELECT encode(token_hash, 'hex') AS value FROM api_tokens")
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(stored.value.len(), 64, "a SHA-256 digest, not the token");

    let id = created["id"].as_str().unwrap();
    assert_eq!(
        send(
            &app,
            Method::DELETE,
            &format!("/v1/api-tokens/{id}"),
            &admin,
            None
        )
        .await
        .status(),
        204
    );
    assert_problem(send(&app, Method::GET, "/v1/me", &secret, None).await, 401).await;
}

#[actix_web::test]
async fn api_tokens_never_exceed_their_owner_and_expire_within_400_days() {
    let app = TestApp::spawn().await;
    let reporter = app.token_for(Role::School, "teg").await;
    let too_much = send(
        &app,
        Method::POST,
        "/v1/api-tokens",
        &reporter,
        Some(json!({
        "name": "mine", "permissions": ["trends:read"], "expires_in_days": 30})),
    )
    .await;
    assert_eq!(
        assert_problem(too_much, 422).await["errors"][0]["field"],
        "permissions"
    );
    let too_long = send(
        &app,
        Method::POST,
        "/v1/api-tokens",
        &reporter,
        Some(json!({
        "name": "mine", "permissions": ["signals:submit"], "expires_in_days": 401})),
    )
    .await;
    assert_eq!(
        assert_problem(too_long, 422).await["errors"][0]["field"],
        "expires_in_days"
    );
    let other = app.create_user(Role::School, "teg");
    let for_other = send(&app, Method::POST, "/v1/api-tokens", &reporter, Some(json!({
        "name": "theirs", "user_id": other.id, "permissions": ["signals:submit"], "expires_in_days": 30}))).await;
    assert_problem(for_other, 403).await;
    let own = send(&app, Method::POST, "/v1/api-tokens", &reporter, Some(json!({
        "name": "school app", "permissions": ["signals:submit", "signals:own"], "expires_in_days": 30}))).await;
    assert_eq!(own.status(), 201);
}

#[actix_web::test]
async fn audit_rows_are_written_and_cannot_be_changed_or_deleted() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin, "umea");
    let token = app.login(&admin).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    app.login_response(&admin.username, "not the right password")
        .await;
    let reporter = app.token_for(Role::School, "teg").await;
    send(&app, Method::GET, "/v1/users", &reporter, None).await;

    let page: Value = send(&app, Method::GET, "/v1/audit-events", &token, None)
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<(String, String)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for expected in [
        ("auth.login", "success"),
        ("auth.login", "failure"),
        ("permission.denied", "denied"),
    ] {
        assert!(
            actions.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} missing from {actions:?}"
        );
    }
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["request_id"].is_string())
    );
    assert!(
        !page.to_string().contains(PASSWORD),
        "no secret in the audit log"
    );

    let filtered: Value = send(
        &app,
        Method::GET,
        "/v1/audit-events?action=permission.denied",
        &token,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(filtered["items"].as_array().unwrap().len(), 1);

    let mut conn = app.db();
    for statement in [
        "UPDATE audit_events SET action = 'nothing'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ] {
        let error = sql_query(statement).execute(&mut conn).unwrap_err();
        assert!(
            error.to_string().contains("append-only"),
            "{statement}: {error}"
        );
    }
}

#[actix_web::test]
async fn areas_are_listed_within_scope_and_admins_add_districts_below_their_area() {
    let app = TestApp::spawn().await;
    let coordinator = app.token_for(Role::Coordinator, "umea").await;
    let areas: Value = send(&app, Method::GET, "/v1/areas", &coordinator, None)
        .await
        .json()
        .await
        .unwrap();
    let codes: Vec<&str> = areas
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"vasterbotten")
            && codes.contains(&"umea")
            && codes.contains(&"ostra-ersboda")
    );
    assert!(!codes.contains(&"sollentuna") && !codes.contains(&"edsberg"));
    let teg = areas
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["code"] == "ostra-ersboda")
        .unwrap();
    assert_eq!(teg["name"], "Östra Ersboda");
    assert_eq!(teg["parent"], "umea");
    assert_eq!(teg["level"], "district");

    let admin = app.token_for(Role::Admin, "umea").await;
    let created = send(
        &app,
        Method::POST,
        "/v1/areas",
        &admin,
        Some(json!({"code": "backen", "name": "Backen", "parent": "umea"})),
    )
    .await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.json::<Value>().await.unwrap()["level"], "district");
    let foreign = send(
        &app,
        Method::POST,
        "/v1/areas",
        &admin,
        Some(json!({"code": "x", "name": "X", "parent": "sollentuna"})),
    )
    .await;
    assert_problem(foreign, 422).await;
    assert_problem(
        send(
            &app,
            Method::PATCH,
            "/v1/areas/edsberg",
            &admin,
            Some(json!({"active": false})),
        )
        .await,
        404,
    )
    .await;
    let renamed = send(
        &app,
        Method::PATCH,
        "/v1/areas/backen",
        &admin,
        Some(json!({"name": "Backen-Klockarbäcken", "active": false})),
    )
    .await;
    assert_eq!(renamed.json::<Value>().await.unwrap()["active"], false);
}

#[actix_web::test]
async fn tokens_never_carry_more_than_their_owner_holds_and_admins_mint_only_for_services() {
    let app = TestApp::spawn().await;
    let admin = app.token_for(Role::Admin, "umea").await;
    let coordinator = app.create_user(Role::Coordinator, "umea");
    let session = app.login(&coordinator).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // An admin cannot hand themselves a coordinator's `trends:read` through a token.
    let count_tokens = || {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        sql_query("SELECT count(*) AS n FROM api_tokens")
            .get_result::<N>(&mut app.db())
            .unwrap()
            .n
    };
    let body = json!({"name": "BI", "user_id": coordinator.id,
                      "permissions": ["trends:read"], "expires_in_days": 30});
    let before = count_tokens();
    let refused = send(&app, Method::POST, "/v1/api-tokens", &admin, Some(body)).await;
    assert_problem(refused, 403).await;
    assert_eq!(count_tokens(), before, "nothing stored");

    // The coordinator mints their own; a demotion takes `trends:read` away for good.
    let own = json!({"name": "BI", "permissions": ["trends:read", "reference:read"],
                     "expires_in_days": 30});
    let token = app.mint_token(&session, own).await;
    let trends = |token: String| {
        let app = &app;
        async move {
            app.authed(Method::GET, "/v1/trends", &token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(trends(token.clone()).await, 200);
    let path = format!("/v1/users/{}", coordinator.id);
    for role in ["school", "coordinator"] {
        let changed = send(
            &app,
            Method::PATCH,
            &path,
            &admin,
            Some(json!({"role": role})),
        )
        .await;
        assert_eq!(changed.status(), 200);
        assert_eq!(
            trends(token.clone()).await,
            403,
            "after becoming {role} the token reads no trends"
        );
    }
    #[derive(QueryableByName)]
    struct Permissions {
        #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Text>)]
        permissions: Vec<String>,
    }
    let stored: Permissions = sql_query("SELECT permissions FROM api_tokens WHERE user_id = $1")
        .bind::<diesel::sql_types::Uuid, _>(coordinator.id)
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(stored.permissions, ["reference:read"]);
}

#[actix_web::test]
async fn personal_data_in_any_free_text_field_is_refused_and_nothing_stored() {
    let app = TestApp::spawn().await;
    let admin = app.token_for(Role::Admin, "umea").await;
    // The shared vocabulary is changed by admins of the root only.
    let root = app.token_for(Role::Admin, "sverige").await;
    let coordinator = app.token_for(Role::Coordinator, "umea").await;
    #[derive(QueryableByName)]
    struct Rows {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let rows = || -> i64 {
        sql_query(
            "SELECT (SELECT count(*) FROM interventions) + (SELECT count(*) FROM areas)
                  + (SELECT count(*) FROM categories) + (SELECT count(*) FROM api_tokens)
                  + (SELECT count(*) FROM audit_events WHERE action <> 'permission.denied')
                  AS n",
        )
        .get_result::<Rows>(&mut app.db())
        .unwrap()
        .n
    };
    let intervention = |name: &str| {
        json!({"name": name, "area": "teg", "categories": ["weapons"], "age_bands": ["16-17"],
               "level": "universal", "start_week": crate::helpers::week(0)})
    };
    let category = |label: &str| {
        json!({"code": "new_code", "label_sv": label, "label_en": "New", "description_sv": "",
               "description_en": ""})
    };
    let cases: Vec<(&str, Method, &str, &String, Value, &str)> = vec![
        (
            "personnummer",
            Method::POST,
            "/v1/interventions",
            &coordinator,
            intervention("Stöd för 19121212-1212"),
            "name",
        ),
        (
            "phone",
            Method::POST,
            "/v1/areas",
            &admin,
            json!({"code": "backen", "name": "Ring 070-123 45 67", "parent": "umea"}),
            "name",
        ),
        (
            "e-mail",
            Method::PATCH,
            "/v1/areas/teg",
            &admin,
            json!({"name": "anna.svensson@umea.se"}),
            "name",
        ),
        (
            "samordningsnummer",
            Method::POST,
            "/v1/categories",
            &root,
            category("701063-2391"),
            "label_sv",
        ),
        (
            "phone",
            Method::PATCH,
            "/v1/categories/weapons",
            &root,
            json!({"description_en": "Call +46 70 123 45 67"}),
            "description_en",
        ),
        (
            "e-mail",
            Method::POST,
            "/v1/api-tokens",
            &admin,
            json!({"name": "till anna@example.se", "permissions": ["reference:read"],
                "expires_in_days": 1}),
            "name",
        ),
    ];
    let before = rows();
    for (what, method, path, token, body, field) in cases {
        let refused = send(&app, method, path, token, Some(body)).await;
        let problem = assert_problem(refused, 422).await;
        assert_eq!(
            (
                problem["errors"][0]["field"].as_str(),
                problem["errors"][0]["code"].as_str()
            ),
            (Some(field), Some("personal_data")),
            "{what} in {path}: {problem}"
        );
    }
    assert_eq!(rows(), before, "nothing was stored");
    // The same fields without personal data are accepted.
    let accepted = send(
        &app,
        Method::POST,
        "/v1/interventions",
        &coordinator,
        Some(intervention("Fältgrupp Teg 2026")),
    )
    .await;
    assert_eq!(accepted.status(), 201);
}
