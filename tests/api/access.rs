//! Every route × every kind of caller, against the permission matrix of docs/design.md §3.

use lagesbild::auth::Permission;
use lagesbild::domain::identity::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;

#[derive(Debug, Clone, Copy)]
enum Rule {
    Public,
    /// Any authenticated caller.
    Authenticated,
    /// A login session (not an API token).
    SessionOnly,
    Needs(Permission),
    /// `reference:write` and an area that is the root of the tree (the shared vocabulary).
    /// Every caller of the table works in Umeå, so every one of them is refused.
    RootAdmin,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Caller {
    Anonymous,
    Person(Role),
    /// An analyst service account's API token with `reference:read` and `trends:read`.
    AnalystToken,
}

struct Route {
    method: Method,
    template: &'static str,
    path: &'static str,
    body: Option<Value>,
    rule: Rule,
}

fn route(
    method: Method,
    template: &'static str,
    path: &'static str,
    body: Option<Value>,
    rule: Rule,
) -> Route {
    Route {
        method,
        template,
        path,
        body,
        rule,
    }
}

/// The table. Logout comes last: it ends the caller's session.
fn routes() -> Vec<Route> {
    use Permission::*;
    vec![
        route(
            Method::GET,
            "/health/live",
            "/health/live",
            None,
            Rule::Public,
        ),
        route(
            Method::GET,
            "/health/ready",
            "/health/ready",
            None,
            Rule::Public,
        ),
        route(
            Method::POST,
            "/v1/auth/login",
            "/v1/auth/login",
            Some(json!({})),
            Rule::Public,
        ),
        route(
            Method::POST,
            "/v1/auth/refresh",
            "/v1/auth/refresh",
            Some(json!({})),
            Rule::Public,
        ),
        route(Method::GET, "/v1/me", "/v1/me", None, Rule::Authenticated),
        route(
            Method::PUT,
            "/v1/me/password",
            "/v1/me/password",
            Some(
                json!({"current_password": "not the password", "new_password": "lingonsylt på fredagsmys i juni"}),
            ),
            Rule::SessionOnly,
        ),
        route(
            Method::POST,
            "/v1/users",
            "/v1/users",
            Some(json!({})),
            Rule::Needs(UsersManage),
        ),
        route(
            Method::GET,
            "/v1/users",
            "/v1/users",
            None,
            Rule::Needs(UsersManage),
        ),
        route(
            Method::GET,
            "/v1/users/{id}",
            "/v1/users/00000000-0000-4000-8000-000000000000",
            None,
            Rule::Needs(UsersManage),
        ),
        route(
            Method::PATCH,
            "/v1/users/{id}",
            "/v1/users/00000000-0000-4000-8000-000000000000",
            Some(json!({})),
            Rule::Needs(UsersManage),
        ),
        route(
            Method::POST,
            "/v1/api-tokens",
            "/v1/api-tokens",
            Some(
                json!({"name": "matrix", "permissions": ["reference:read"], "expires_in_days": 1}),
            ),
            Rule::SessionOnly,
        ),
        route(
            Method::GET,
            "/v1/api-tokens",
            "/v1/api-tokens",
            None,
            Rule::Authenticated,
        ),
        route(
            Method::DELETE,
            "/v1/api-tokens/{id}",
            "/v1/api-tokens/00000000-0000-4000-8000-000000000000",
            None,
            Rule::Authenticated,
        ),
        route(
            Method::GET,
            "/v1/areas",
            "/v1/areas",
            None,
            Rule::Needs(ReferenceRead),
        ),
        route(
            Method::POST,
            "/v1/areas",
            "/v1/areas",
            Some(json!({})),
            Rule::Needs(ReferenceWrite),
        ),
        route(
            Method::PATCH,
            "/v1/areas/{code}",
            "/v1/areas/nowhere",
            Some(json!({})),
            Rule::Needs(ReferenceWrite),
        ),
        route(
            Method::GET,
            "/v1/audit-events",
            "/v1/audit-events",
            None,
            Rule::Needs(AuditRead),
        ),
        route(
            Method::GET,
            "/v1/age-bands",
            "/v1/age-bands",
            None,
            Rule::Needs(ReferenceRead),
        ),
        route(
            Method::POST,
            "/v1/age-bands",
            "/v1/age-bands",
            Some(json!({})),
            Rule::RootAdmin,
        ),
        route(
            Method::PATCH,
            "/v1/age-bands/{code}",
            "/v1/age-bands/none",
            Some(json!({})),
            Rule::RootAdmin,
        ),
        route(
            Method::GET,
            "/v1/categories",
            "/v1/categories",
            None,
            Rule::Needs(ReferenceRead),
        ),
        route(
            Method::POST,
            "/v1/categories",
            "/v1/categories",
            Some(json!({})),
            Rule::RootAdmin,
        ),
        route(
            Method::PATCH,
            "/v1/categories/{code}",
            "/v1/categories/none",
            Some(json!({})),
            Rule::RootAdmin,
        ),
        route(
            Method::GET,
            "/v1/arenas",
            "/v1/arenas",
            None,
            Rule::Needs(ReferenceRead),
        ),
        route(
            Method::POST,
            "/v1/arenas",
            "/v1/arenas",
            Some(json!({})),
            Rule::RootAdmin,
        ),
        route(
            Method::PATCH,
            "/v1/arenas/{code}",
            "/v1/arenas/none",
            Some(json!({})),
            Rule::RootAdmin,
        ),
        route(
            Method::POST,
            "/v1/signals",
            "/v1/signals",
            Some(json!({})),
            Rule::Needs(SignalsSubmit),
        ),
        route(
            Method::POST,
            "/v1/signals/batch",
            "/v1/signals/batch",
            Some(json!({})),
            Rule::Needs(SignalsSubmit),
        ),
        route(
            Method::GET,
            "/v1/signals/mine",
            "/v1/signals/mine",
            None,
            Rule::Needs(SignalsOwn),
        ),
        route(
            Method::DELETE,
            "/v1/signals/{id}",
            "/v1/signals/00000000-0000-4000-8000-000000000000",
            None,
            Rule::Needs(SignalsOwn),
        ),
        route(
            Method::GET,
            "/v1/trends",
            "/v1/trends",
            None,
            Rule::Needs(TrendsRead),
        ),
        route(
            Method::GET,
            "/v1/trends.csv",
            "/v1/trends.csv",
            None,
            Rule::Needs(TrendsRead),
        ),
        route(
            Method::GET,
            "/v1/alerts",
            "/v1/alerts",
            None,
            Rule::Needs(TrendsRead),
        ),
        route(
            Method::GET,
            "/v1/exports/signal-counts.csv",
            "/v1/exports/signal-counts.csv",
            None,
            Rule::Needs(TrendsRead),
        ),
        route(
            Method::GET,
            "/v1/exports/signal-counts.json",
            "/v1/exports/signal-counts.json",
            None,
            Rule::Needs(TrendsRead),
        ),
        route(
            Method::PUT,
            "/v1/population",
            "/v1/population",
            Some(json!({})),
            Rule::Needs(PopulationWrite),
        ),
        route(
            Method::GET,
            "/v1/population",
            "/v1/population",
            None,
            Rule::Needs(ReferenceRead),
        ),
        route(
            Method::POST,
            "/v1/interventions",
            "/v1/interventions",
            Some(json!({})),
            Rule::Needs(InterventionsWrite),
        ),
        route(
            Method::GET,
            "/v1/interventions",
            "/v1/interventions",
            None,
            Rule::Needs(TrendsRead),
        ),
        route(
            Method::PATCH,
            "/v1/interventions/{id}",
            "/v1/interventions/00000000-0000-4000-8000-000000000000",
            Some(json!({"end_week": null})),
            Rule::Needs(InterventionsWrite),
        ),
        route(
            Method::GET,
            "/v1/interventions/{id}/effect",
            "/v1/interventions/00000000-0000-4000-8000-000000000000/effect",
            None,
            Rule::Needs(TrendsRead),
        ),
        route(
            Method::POST,
            "/v1/auth/logout",
            "/v1/auth/logout",
            None,
            Rule::SessionOnly,
        ),
    ]
}

fn permissions(caller: Caller) -> Vec<Permission> {
    match caller {
        Caller::Anonymous => vec![],
        Caller::Person(role) => Permission::granted_to(role).to_vec(),
        Caller::AnalystToken => vec![Permission::ReferenceRead, Permission::TrendsRead],
    }
}

/// 401, 403, or `None` for "let through" (any other status below 500).
fn expected(rule: Rule, caller: Caller) -> Option<u16> {
    match (rule, caller) {
        (Rule::Public, _) => None,
        (_, Caller::Anonymous) => Some(401),
        (Rule::Authenticated, _) => None,
        (Rule::SessionOnly, Caller::AnalystToken) => Some(403),
        (Rule::SessionOnly, _) => None,
        (Rule::Needs(p), caller) => (!permissions(caller).contains(&p)).then_some(403),
        (Rule::RootAdmin, _) => Some(403),
    }
}

#[actix_web::test]
async fn every_route_answers_every_caller_as_the_permission_matrix_says() {
    let app = TestApp::spawn().await;

    // A route missing from the table fails here, before anything else.
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    let table = routes();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            assert!(
                table
                    .iter()
                    .any(|r| r.template == path && r.method.as_str().eq_ignore_ascii_case(method)),
                "{} {path} has no row in the access table of tests/api/access.rs",
                method.to_uppercase()
            );
        }
    }

    let admin = app.token_for(Role::Admin, "umea").await;
    let service = app.create_service_account(Role::Analyst, "umea");
    let service_token = app
        .mint_token(
            &admin,
            json!({"name": "BI", "user_id": service.id,
                   "permissions": ["reference:read", "trends:read"], "expires_in_days": 30}),
        )
        .await;

    let mut callers: Vec<(Caller, Option<String>)> = vec![
        (Caller::Anonymous, None),
        (Caller::AnalystToken, Some(service_token)),
    ];
    for role in Role::ALL {
        callers.push((
            Caller::Person(role),
            Some(app.token_for(role, "umea").await),
        ));
    }

    let mut failures = Vec::new();
    for route in &table {
        for (caller, token) in &callers {
            let mut request = app
                .client
                .request(route.method.clone(), app.url(route.path));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = &route.body {
                request = request.json(body);
            }
            let status = request.send().await.unwrap().status().as_u16();
            let ok = match expected(route.rule, *caller) {
                Some(code) => status == code,
                None => status != 401 && status != 403 && status < 500,
            };
            if !ok {
                failures.push(format!(
                    "{} {} as {caller:?}: got {status}, expected {:?}",
                    route.method,
                    route.path,
                    expected(route.rule, *caller)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
