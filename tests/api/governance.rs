//! Who governs what (issue 12, items 8 and 9): the root of the area tree and its admins,
//! who alone change the vocabulary every area shares; who sees which audit rows; and the
//! step-up (the acting admin's own password again) before making or taking over an admin.

use lagesbild::domain::identity::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, TestUser, assert_problem};

const NEW_PASSWORD: &str = "lingonsylt på fredagsmys i juni";

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
) -> reqwest::Response {
    app.authed(method, path, token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn session(app: &TestApp, user: &TestUser) -> String {
    app.login(user).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The three vocabularies as every reader sees them.
async fn vocabulary(app: &TestApp, token: &str) -> Value {
    json!({
        "categories": app.get_json("/v1/categories", token).await,
        "arenas": app.get_json("/v1/arenas", token).await,
        "age_bands": app.get_json("/v1/age-bands", token).await,
    })
}

/// Every change an admin could try on the shared vocabulary, each valid as a body.
fn vocabulary_changes() -> Vec<(Method, &'static str, Value)> {
    vec![
        (
            Method::PATCH,
            "/v1/categories/weapons",
            json!({"active": false}),
        ),
        (
            Method::POST,
            "/v1/categories",
            json!({"code": "online_fraud", "label_sv": "Bedrägerier", "label_en": "Fraud"}),
        ),
        (
            Method::PATCH,
            "/v1/arenas/school",
            json!({"label_en": "Schoolhouse"}),
        ),
        (
            Method::POST,
            "/v1/arenas",
            json!({"code": "public_transport", "label_sv": "Kollektivtrafik", "label_en": "Public transport"}),
        ),
        (
            Method::PATCH,
            "/v1/age-bands/13-15",
            json!({"active": false}),
        ),
        (
            Method::POST,
            "/v1/age-bands",
            json!({"code": "21-24", "label_sv": "Unga vuxna", "label_en": "Young adults"}),
        ),
    ]
}

fn audit_items(page: &Value) -> &Vec<Value> {
    page["items"].as_array().expect("a page of audit events")
}

#[actix_web::test]
async fn only_admins_of_the_root_change_the_shared_vocabulary() {
    let app = TestApp::spawn().await;
    let municipality = app.token_for(Role::Admin, "umea").await;
    let region = app.token_for(Role::Admin, "vasterbotten").await;
    let root = app.token_for(Role::Admin, "sverige").await;
    let before = vocabulary(&app, &municipality).await;

    for (admin, who) in [(&municipality, "Umeå"), (&region, "Västerbotten")] {
        for (method, path, body) in vocabulary_changes() {
            let refused = send(&app, method.clone(), path, admin, body).await;
            let problem = assert_problem(refused, 403).await;
            assert!(
                problem["detail"].as_str().unwrap().contains("root area"),
                "{who} {method} {path}: the detail says why: {problem}"
            );
        }
        // Refused before the body is read: a broken body gets the same answer.
        let broken = send(&app, Method::POST, "/v1/categories", admin, json!({})).await;
        assert_problem(broken, 403).await;
    }
    assert_eq!(
        vocabulary(&app, &municipality).await,
        before,
        "nothing changed"
    );

    for (method, path, body) in vocabulary_changes() {
        let done = send(&app, method.clone(), path, &root, body).await;
        assert!(
            done.status().is_success(),
            "root admin {method} {path}: {}",
            done.status()
        );
    }
    let after = vocabulary(&app, &municipality).await;
    let find = |list: &str, code: &str| {
        after[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["code"] == code)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(find("categories", "weapons")["active"], false);
    assert_eq!(find("categories", "online_fraud")["label_en"], "Fraud");
    assert_eq!(find("arenas", "school")["label_en"], "Schoolhouse");
    assert_eq!(find("arenas", "public_transport")["active"], true);
    assert_eq!(find("age_bands", "13-15")["active"], false);
    assert_eq!(find("age_bands", "21-24")["label_sv"], "Unga vuxna");
}

#[actix_web::test]
async fn every_admin_sees_the_vocabulary_changes_of_the_root_in_their_audit_view() {
    let app = TestApp::spawn().await;
    let root = app.token_for(Role::Admin, "sverige").await;
    let municipality = app.token_for(Role::Admin, "sollentuna").await;
    let changed = send(
        &app,
        Method::PATCH,
        "/v1/categories/weapons",
        &root,
        json!({"active": false}),
    )
    .await;
    assert_eq!(changed.status(), 200);

    let page = app
        .get_json("/v1/audit-events?action=vocabulary.update", &municipality)
        .await;
    let rows = audit_items(&page);
    assert_eq!(rows.len(), 1, "{page}");
    assert_eq!(rows[0]["target_type"], "categories");
    assert_eq!(rows[0]["target_id"], "weapons");
    assert_eq!(rows[0]["outcome"], "success");
    assert_eq!(rows[0]["details"]["active"], false);

    // The root admin's other doings stay out of a municipality's view.
    let logins = app
        .get_json("/v1/audit-events?action=auth.login", &municipality)
        .await;
    assert_eq!(
        audit_items(&logins).len(),
        1,
        "only the municipality admin's own login: {logins}"
    );
}

#[actix_web::test]
async fn audit_rows_of_no_area_are_shown_to_admins_of_the_root_only() {
    let app = TestApp::spawn().await;
    let root = app.token_for(Role::Admin, "sverige").await;
    let municipality = app.token_for(Role::Admin, "umea").await;
    let region = app.token_for(Role::Admin, "vasterbotten").await;
    let unknown = app
        .login_response("nobody.at.all", "not anybody's password")
        .await;
    assert_eq!(unknown.status(), 401);

    let unplaced = |page: &Value| {
        audit_items(page)
            .iter()
            .filter(|e| e["outcome"] == "failure" && e["actor_id"].is_null())
            .count()
    };
    let path = "/v1/audit-events?action=auth.login";
    assert_eq!(unplaced(&app.get_json(path, &root).await), 1);
    assert_eq!(unplaced(&app.get_json(path, &municipality).await), 0);
    assert_eq!(unplaced(&app.get_json(path, &region).await), 0);
}

#[actix_web::test]
async fn the_root_heads_the_area_tree_and_only_its_admins_add_regions() {
    let app = TestApp::spawn().await;
    let root = app.token_for(Role::Admin, "sverige").await;
    let region = app.token_for(Role::Admin, "vasterbotten").await;

    let areas = app.get_json("/v1/areas", &root).await;
    let areas = areas.as_array().unwrap();
    assert_eq!(areas[0]["code"], "sverige", "depth-first, the root first");
    assert_eq!(areas[0]["level"], "national");
    assert!(areas[0].get("parent").is_none());
    for code in ["vasterbotten", "stockholm"] {
        let r = areas.iter().find(|a| a["code"] == code).unwrap();
        assert_eq!(
            (&r["level"], &r["parent"]),
            (&json!("region"), &json!("sverige"))
        );
    }
    assert!(
        areas.iter().any(|a| a["code"] == "edsberg"),
        "the root sees all"
    );
    // Every caller sees the root above their area.
    let coordinator = app.token_for(Role::Coordinator, "umea").await;
    let seen = app.get_json("/v1/areas", &coordinator).await;
    assert_eq!(seen[0]["code"], "sverige");

    let new_region = json!({"code": "norrbotten", "name": "Norrbottens län", "parent": "sverige"});
    let refused = send(&app, Method::POST, "/v1/areas", &region, new_region.clone()).await;
    assert_problem(refused, 403).await;
    let created = send(&app, Method::POST, "/v1/areas", &root, new_region).await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.json::<Value>().await.unwrap()["level"], "region");
    // A regional admin still adds below their own area.
    let municipality = json!({"code": "vindeln", "name": "Vindeln", "parent": "vasterbotten"});
    let below = send(&app, Method::POST, "/v1/areas", &region, municipality).await;
    assert_eq!(
        below.json::<Value>().await.unwrap()["level"],
        "municipality"
    );

    let off = send(
        &app,
        Method::PATCH,
        "/v1/areas/sverige",
        &root,
        json!({"active": false}),
    )
    .await;
    assert_problem(off, 409).await;
    let renamed = send(
        &app,
        Method::PATCH,
        "/v1/areas/sverige",
        &root,
        json!({"name": "Hela Sverige"}),
    )
    .await;
    assert_eq!(renamed.json::<Value>().await.unwrap()["active"], true);
}

#[actix_web::test]
async fn trends_of_the_whole_country_group_by_region_but_not_by_national() {
    let app = TestApp::spawn().await;
    let coordinator = app.token_for(Role::Coordinator, "sverige").await;
    let school = app.token_for(Role::School, "teg").await;
    let filed = send(
        &app,
        Method::POST,
        "/v1/signals",
        &school,
        crate::helpers::signal(),
    )
    .await;
    assert_eq!(filed.status(), 201);
    let national = app
        .authed(
            Method::GET,
            "/v1/trends?by=area&area_level=national",
            &coordinator,
        )
        .send()
        .await
        .unwrap();
    let problem = assert_problem(national, 422).await;
    assert_eq!(problem["errors"][0]["field"], "area_level");
    assert_eq!(problem["errors"][0]["code"], "unknown_level");

    let regions = app
        .get_json("/v1/trends?by=area&area_level=region", &coordinator)
        .await;
    let keys: Vec<&str> = regions["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"]["area"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"vasterbotten"), "Teg's region: {regions}");
    assert!(
        keys.iter()
            .all(|k| ["vasterbotten", "stockholm"].contains(k)),
        "regions only: {regions}"
    );
}

/// A user's row as an admin of `area` reads it.
async fn user_row(app: &TestApp, token: &str, id: uuid::Uuid) -> Value {
    app.get_json(&format!("/v1/users/{id}"), token).await
}

#[actix_web::test]
async fn creating_an_admin_asks_for_the_acting_admins_own_password() {
    let app = TestApp::spawn().await;
    let acting = app.create_user(Role::Admin, "umea");
    let token = session(&app, &acting).await;
    let new_admin = |current: Option<&str>| {
        let mut body = json!({"username": "ny.admin", "role": "admin", "area": "umea",
                              "kind": "person", "password": NEW_PASSWORD});
        if let Some(current) = current {
            body["current_password"] = current.into();
        }
        body
    };
    let listed = |page: Value| {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["username"] == "ny.admin")
    };

    let missing = send(&app, Method::POST, "/v1/users", &token, new_admin(None)).await;
    let problem = assert_problem(missing, 422).await;
    assert_eq!(
        (
            &problem["errors"][0]["field"],
            &problem["errors"][0]["code"]
        ),
        (&json!("current_password"), &json!("required"))
    );
    assert!(!listed(app.get_json("/v1/users", &token).await));

    let wrong = send(
        &app,
        Method::POST,
        "/v1/users",
        &token,
        new_admin(Some("not my password at all")),
    )
    .await;
    let problem = assert_problem(wrong, 403).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("does not match"),
        "{problem}"
    );
    assert!(!listed(app.get_json("/v1/users", &token).await));
    assert_eq!(
        app.login_response("ny.admin", NEW_PASSWORD).await.status(),
        401
    );
    let failures = app
        .get_json("/v1/audit-events?action=auth.step_up", &token)
        .await;
    let rows = audit_items(&failures);
    assert_eq!(rows.len(), 1, "{failures}");
    assert_eq!(
        (&rows[0]["outcome"], &rows[0]["actor_id"]),
        (&json!("failure"), &json!(acting.id))
    );
    assert!(!failures.to_string().contains("not my password"));

    let created = send(
        &app,
        Method::POST,
        "/v1/users",
        &token,
        new_admin(Some(PASSWORD)),
    )
    .await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.json::<Value>().await.unwrap()["role"], "admin");
    assert_eq!(
        app.login_response("ny.admin", NEW_PASSWORD).await.status(),
        200
    );

    // Other roles need no step-up.
    let coordinator = json!({"username": "ny.samordnare", "role": "coordinator", "area": "umea",
                             "kind": "person", "password": NEW_PASSWORD});
    let plain = send(&app, Method::POST, "/v1/users", &token, coordinator).await;
    assert_eq!(plain.status(), 201);
}

#[actix_web::test]
async fn resetting_an_admins_password_or_promoting_to_admin_asks_for_the_acting_admins_password() {
    let app = TestApp::spawn().await;
    let acting = app.create_user(Role::Admin, "umea");
    let token = session(&app, &acting).await;
    let other = app.create_user(Role::Admin, "umea");
    let other_session = session(&app, &other).await;
    let path = format!("/v1/users/{}", other.id);

    let missing = send(
        &app,
        Method::PATCH,
        &path,
        &token,
        json!({"password": NEW_PASSWORD}),
    )
    .await;
    let problem = assert_problem(missing, 422).await;
    assert_eq!(
        (
            &problem["errors"][0]["field"],
            &problem["errors"][0]["code"]
        ),
        (&json!("current_password"), &json!("required"))
    );
    let wrong = send(
        &app,
        Method::PATCH,
        &path,
        &token,
        json!({"password": NEW_PASSWORD, "current_password": "not my password at all"}),
    )
    .await;
    assert_problem(wrong, 403).await;
    // Nothing changed: the old password and the other admin's session still work.
    assert_eq!(
        app.login_response(&other.username, NEW_PASSWORD)
            .await
            .status(),
        401
    );
    assert_eq!(
        app.login_response(&other.username, PASSWORD).await.status(),
        200
    );
    let me = app
        .authed(Method::GET, "/v1/me", &other_session)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);

    let reset = send(
        &app,
        Method::PATCH,
        &path,
        &token,
        json!({"password": NEW_PASSWORD, "current_password": PASSWORD}),
    )
    .await;
    assert_eq!(reset.status(), 200);
    assert_eq!(
        app.login_response(&other.username, NEW_PASSWORD)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.login_response(&other.username, PASSWORD).await.status(),
        401
    );

    // Promoting to admin is the same kind of act.
    let coordinator = app.create_user(Role::Coordinator, "umea");
    let promote = format!("/v1/users/{}", coordinator.id);
    let missing = send(
        &app,
        Method::PATCH,
        &promote,
        &token,
        json!({"role": "admin"}),
    )
    .await;
    assert_problem(missing, 422).await;
    let wrong = send(
        &app,
        Method::PATCH,
        &promote,
        &token,
        json!({"role": "admin", "current_password": "not my password at all"}),
    )
    .await;
    assert_problem(wrong, 403).await;
    assert_eq!(
        user_row(&app, &token, coordinator.id).await["role"],
        "coordinator"
    );
    let promoted = send(
        &app,
        Method::PATCH,
        &promote,
        &token,
        json!({"role": "admin", "current_password": PASSWORD}),
    )
    .await;
    assert_eq!(promoted.status(), 200);
    assert_eq!(
        user_row(&app, &token, coordinator.id).await["role"],
        "admin"
    );

    // A reporter's password is reset as before, without a step-up.
    let reporter = app.create_user(Role::School, "teg");
    let plain = send(
        &app,
        Method::PATCH,
        &format!("/v1/users/{}", reporter.id),
        &token,
        json!({"password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(plain.status(), 200);
}

#[actix_web::test]
async fn wrong_step_up_passwords_lock_the_acting_account_like_failed_logins() {
    let app = TestApp::spawn().await;
    let acting = app.create_user(Role::Admin, "umea");
    let token = session(&app, &acting).await;
    let body = json!({"username": "ny.admin", "role": "admin", "area": "umea", "kind": "person",
                      "password": NEW_PASSWORD, "current_password": "not my password at all"});
    for _ in 0..5 {
        let wrong = send(&app, Method::POST, "/v1/users", &token, body.clone()).await;
        assert_problem(wrong, 403).await;
    }
    let locked = app.login_response(&acting.username, PASSWORD).await;
    assert_eq!(locked.status(), 429, "five wrong step-ups lock the account");
    let mut right = body;
    right["current_password"] = PASSWORD.into();
    let still_locked = send(&app, Method::POST, "/v1/users", &token, right).await;
    assert_problem(still_locked, 429).await;
}

#[actix_web::test]
async fn audit_events_page_with_a_string_cursor_like_every_other_list() {
    let app = TestApp::spawn().await;
    let admin_user = app.create_user(Role::Admin, "umea");
    let admin = app.login(&admin_user).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..4 {
        app.login(&admin_user).await;
    }
    let all = app
        .get_json("/v1/audit-events?action=auth.login&limit=200", &admin)
        .await;
    let all: Vec<i64> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(all.len(), 5, "five logins");
    let mut paged = Vec::new();
    let mut path = "/v1/audit-events?action=auth.login&limit=2".to_owned();
    loop {
        let page = app.get_json(&path, &admin).await;
        paged.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!("/v1/audit-events?action=auth.login&limit=2&cursor={cursor}")
            }
            None => {
                assert!(
                    page.get("next_cursor").is_none(),
                    "absent on the last page: {page}"
                );
                break;
            }
        }
    }
    assert_eq!(paged, all, "the pages, in order, are the whole list");
    for bad in ["abc", "-3", "0", "99999999999999999999"] {
        let response = app
            .authed(
                reqwest::Method::GET,
                &format!("/v1/audit-events?cursor={bad}"),
                &admin,
            )
            .send()
            .await
            .unwrap();
        let problem = crate::helpers::assert_problem(response, 422).await;
        assert_eq!(problem["errors"][0]["field"], "cursor", "{bad}");
    }
}
