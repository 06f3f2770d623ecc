//! The export lists atomic cells only — a district × one code or "all" of each other
//! dimension × one period — and only those published with a count: an absent row holds
//! fewer than k signals, possibly none.

use lagesbild::domain::identity::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, week};

async fn file(app: &TestApp, token: &str, signal: Value, n: usize) {
    let response = app
        .authed(Method::POST, "/v1/signals/batch", token)
        .json(&json!({"signals": vec![signal; n]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

fn signal(category: &str, arena: &str, offset: i64) -> Value {
    json!({"area": "teg", "age_band": "13-15", "category": category, "arena": arena,
           "observed_week": week(offset)})
}

/// The rows of a JSON export.
async fn rows(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let body = app
        .get_json(&format!("/v1/exports/signal-counts.json?{query}"), token)
        .await;
    body["rows"].as_array().cloned().unwrap_or_default()
}

#[actix_web::test]
async fn the_export_crosses_the_chosen_dimensions_and_agrees_with_trends() {
    let app = TestApp::spawn().await;
    let school = app.token_for(Role::School, "umea").await;
    let coordinator = app.token_for(Role::Coordinator, "umea").await;
    // Weapons: 2 in each of four arenas (a finest cell of 2 is at most 4 < k, whatever
    // its noise; together 8). Drugs: 2 at school. Debt: 9 at school.
    for arena in ["school", "schoolyard", "youth_centre", "public_place"] {
        file(&app, &school, signal("weapons", arena, -1), 2).await;
    }
    file(&app, &school, signal("drug_handling", "school", -1), 2).await;
    file(&app, &school, signal("debt_threats", "school", -1), 9).await;
    let at = format!("from={}&to={}", week(-1), week(-1));

    // The finest crossing: the small cells are absent, not listed as suppressed.
    let finest = rows(
        &app,
        &coordinator,
        &format!("{at}&dims=age_band,category,arena,gender,source"),
    )
    .await;
    assert!(
        finest.iter().all(|r| r["category"] == "debt_threats"),
        "only the cell of 9 is published: {finest:?}"
    );
    assert!(finest.iter().all(|r| r.get("suppressed").is_none()));

    // By category: weapons' two small cells make one published cell of 8, the same
    // number trends publish for Teg × weapons; drugs (2) is absent.
    let by_category = rows(&app, &coordinator, &format!("{at}&dims=category")).await;
    let categories: Vec<&str> = by_category
        .iter()
        .map(|r| r["category"].as_str().unwrap())
        .collect();
    assert_eq!(categories, ["debt_threats", "weapons"], "{by_category:?}");
    for row in &by_category {
        assert_eq!(
            (
                &row["area"],
                &row["age_band"],
                &row["arena"],
                &row["gender"],
                &row["source"]
            ),
            (
                &json!("teg"),
                &json!("all"),
                &json!("all"),
                &json!("all"),
                &json!("all")
            )
        );
        let category = row["category"].as_str().unwrap();
        let trend = app
            .get_json(
                &format!("/v1/trends?area=teg&category={category}&{at}"),
                &coordinator,
            )
            .await;
        assert_eq!(
            row["count"], trend["series"][0]["points"][0]["count"],
            "{category}: the export and trends publish the same atomic cell"
        );
    }

    // A list of codes on a dimension not crossed is split into rows, never summed.
    let listed = rows(
        &app,
        &coordinator,
        &format!("{at}&category=weapons,debt_threats"),
    )
    .await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    // With no dimension crossed: Teg's week, all 19 signals in one cell.
    let total = rows(&app, &coordinator, &at).await;
    assert_eq!(total.len(), 1);
    assert_eq!(total[0]["category"], "all");
    let published = total[0]["count"].as_i64().unwrap();
    assert!((17..=21).contains(&published), "{published}");
}

#[actix_web::test]
async fn dims_are_checked_and_key_the_etag() {
    let app = TestApp::spawn().await;
    let school = app.token_for(Role::School, "umea").await;
    let coordinator = app.token_for(Role::Coordinator, "umea").await;
    file(&app, &school, signal("weapons", "school", 0), 9).await;
    for bad in ["bogus", "category,area", ""] {
        let response = app
            .authed(
                Method::GET,
                &format!("/v1/exports/signal-counts.csv?dims={bad}"),
                &coordinator,
            )
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, 422).await;
        assert_eq!(problem["errors"][0]["field"], "dims", "{bad}: {problem}");
    }
    let tag = |dims: &'static str| {
        let (app, coordinator) = (&app, &coordinator);
        async move {
            let response = app
                .authed(
                    Method::GET,
                    &format!("/v1/exports/signal-counts.csv?dims={dims}"),
                    coordinator,
                )
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.headers()["etag"].to_str().unwrap().to_owned()
        }
    };
    let (category, arena) = (tag("category").await, tag("arena").await);
    assert_ne!(category, arena, "another crossing is another body");
    let again = app
        .authed(
            Method::GET,
            "/v1/exports/signal-counts.csv?dims=category",
            &coordinator,
        )
        .header("if-none-match", &category)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    // Every export is audited with its parameters.
    let admin = app.token_for(Role::Admin, "umea").await;
    let audit = app
        .get_json("/v1/audit-events?action=exports.read", &admin)
        .await;
    let parameters: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| &row["details"]["parameters"])
        .collect();
    assert!(
        parameters.contains(&&json!({"dims": "category", "format": "csv"})),
        "{parameters:?}"
    );
}
