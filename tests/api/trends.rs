//! Trends, alerts and exports: what coordinators and BI tools read, and proof that no
//! count below the threshold ever leaves the service.

use diesel::{QueryableByName, RunQueryDsl, sql_query};
use lagesbild::domain::identity::Role;
use lagesbild::domain::week::IsoWeek;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem};

const MIN_COUNT: i64 = 5;

fn today() -> chrono::NaiveDate {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Stockholm)
        .date_naive()
}

fn week(offset: i64) -> String {
    IsoWeek::of(today()).plus_weeks(offset).to_string()
}

/// An app with 60 weeks of synthetic history (seeded) and an Umeå coordinator's token.
async fn app_with_history() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    lagesbild::demo::generate(&mut app.db(), today(), 60, 7, |_, _| {}).unwrap();
    let coordinator = app.token_for(Role::Coordinator, "umea").await;
    (app, coordinator)
}

async fn get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.authed(Method::GET, path, token).send().await.unwrap()
}

/// Every value under a `count` or `total` key, anywhere in `value`.
fn counts(value: &Value, out: &mut Vec<Option<i64>>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "count" || key == "total" {
                    out.push(v.as_i64());
                } else {
                    counts(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| counts(v, out)),
        _ => {}
    }
}

/// The `count` column of a CSV body.
fn csv_counts(body: &str) -> Vec<Option<i64>> {
    let mut lines = body.trim_start_matches('\u{feff}').lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = header.iter().position(|h| *h == "count").unwrap();
    lines
        .map(|line| line.split(',').nth(column).unwrap().parse().ok())
        .collect()
}

fn assert_nothing_below_threshold(what: &str, found: &[Option<i64>]) {
    assert!(!found.is_empty(), "{what}: no counts at all");
    for count in found.iter().flatten() {
        assert!(
            *count == 0 || *count >= MIN_COUNT,
            "{what} published {count}, below the threshold"
        );
    }
}

#[actix_web::test]
async fn no_response_publishes_a_count_between_one_and_the_threshold() {
    let (app, coordinator) = app_with_history().await;
    let mut suppressed_seen = 0;
    for query in [
        "by=area",
        "by=area,category",
        "by=age_band,gender",
        "by=source&period=month",
        "by=category,arena&area=teg",
        "by=category&period=quarter&area=umea&area_level=municipality",
        "area=teg&category=weapons&by=gender,source",
    ] {
        let response = get(&app, &format!("/v1/trends?{query}"), &coordinator).await;
        assert_eq!(response.status(), 200, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["disclosure"],
            json!({"method": "cell_key", "min_count": 5})
        );
        let mut found = Vec::new();
        counts(&body, &mut found);
        assert_nothing_below_threshold(query, &found);
        for point in body["series"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["points"].as_array().unwrap())
        {
            if point["suppressed"] == true {
                suppressed_seen += 1;
                assert!(point["count"].is_null() && point["rate_per_1000"].is_null());
            }
        }
        let csv = get(
            &app,
            &format!("/v1/trends?{query}&format=csv"),
            &coordinator,
        )
        .await
        .text()
        .await
        .unwrap();
        assert_nothing_below_threshold(&format!("{query} as CSV"), &csv_counts(&csv));
    }
    assert!(
        suppressed_seen > 0,
        "the history has small cells to protect"
    );

    let alerts: Value = get(&app, "/v1/alerts", &coordinator)
        .await
        .json()
        .await
        .unwrap();
    let mut found = Vec::new();
    counts(&alerts, &mut found);
    found.push(Some(0)); // there may be no alarm this week
    assert_nothing_below_threshold("alerts", &found);

    let export = get(
        &app,
        "/v1/exports/signal-counts.csv?period=month",
        &coordinator,
    )
    .await
    .text()
    .await
    .unwrap();
    let exported = csv_counts(&export);
    assert!(
        exported.iter().any(Option::is_none),
        "the cube has suppressed cells"
    );
    assert_nothing_below_threshold("export", &exported);
    let export: Value = get(&app, "/v1/exports/signal-counts.json", &coordinator)
        .await
        .json()
        .await
        .unwrap();
    let mut found = Vec::new();
    counts(&export, &mut found);
    assert_nothing_below_threshold("JSON export", &found);
}

#[derive(QueryableByName)]
struct Sums {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    key_sum: i64,
}

/// DESIGN §5 written out independently of `src/disclosure.rs`.
fn cell_key(n: i64, key_sum: i64) -> Option<i64> {
    if n == 0 {
        return Some(0);
    }
    let u = key_sum.rem_euclid(1 << 31) as f64 / (1u64 << 31) as f64;
    let table: &[(i64, f64)] = if n == 1 {
        &[(-1, 0.25), (0, 0.75), (1, 1.0)]
    } else {
        &[(-2, 0.05), (-1, 0.25), (0, 0.75), (1, 0.95), (2, 1.0)]
    };
    let d = table.iter().find(|(_, c)| *c > u).map_or(2, |(d, _)| *d);
    Some(n + d).filter(|p| *p >= MIN_COUNT)
}

#[actix_web::test]
async fn the_same_cell_shows_the_same_number_through_any_query() {
    let (app, coordinator) = app_with_history().await;
    let window = format!("from={}&to={}", week(-30), week(0));
    let table: Value = get(
        &app,
        &format!("/v1/trends?by=area,category&{window}"),
        &coordinator,
    )
    .await
    .json()
    .await
    .unwrap();
    let row = table["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == json!({"area": "ostra-ersboda", "category": "drug_handling"}))
        .unwrap()
        .clone();
    let alone: Value = get(
        &app,
        &format!("/v1/trends?area=ostra-ersboda&category=drug_handling&{window}"),
        &coordinator,
    )
    .await
    .json()
    .await
    .unwrap();
    let alone = &alone["series"][0];
    assert_eq!(
        row["points"], alone["points"],
        "every point and indicator agrees"
    );
    assert_eq!(row["summary"], alone["summary"]);

    // The full table (signal_cells) and the coarse one agree: ask through a filter that
    // forces the wide table, covering every gender.
    let wide: Value = get(
        &app,
        &format!("/v1/trends?area=ostra-ersboda&category=drug_handling&gender=girl,boy,other,unspecified&{window}"),
        &coordinator,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(wide["series"][0]["points"], alone["points"]);

    // And each number is the cell key method applied to the stored cells.
    for point in alone["points"].as_array().unwrap() {
        let week = IsoWeek::parse(point["period"].as_str().unwrap()).unwrap();
        let sums: Sums = sql_query(
            "SELECT coalesce(sum(n), 0)::int8 AS n, coalesce(sum(key_sum), 0)::int8 AS key_sum
               FROM signal_cells c JOIN areas a ON a.id = c.area_id JOIN categories k ON k.id = c.category_id
              WHERE a.code = 'ostra-ersboda' AND k.code = 'drug_handling' AND c.week = $1",
        )
        .bind::<diesel::sql_types::Date, _>(week.monday())
        .get_result(&mut app.db())
        .unwrap();
        assert_eq!(
            point["count"].as_i64(),
            cell_key(sums.n, sums.key_sum),
            "{point}"
        );
        assert_eq!(point["suppressed"], point["count"].is_null());
    }
}

#[actix_web::test]
async fn a_small_cell_is_suppressed_and_its_value_shows_nowhere() {
    let app = TestApp::spawn().await;
    let school = app.token_for(Role::School, "umea").await;
    for _ in 0..2 {
        let status = app
            .authed(Method::POST, "/v1/signals", &school)
            .json(&json!({"area": "teg", "age_band": "13-15", "category": "weapons", "arena": "school", "observed_week": week(0)}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 201);
    }
    let coordinator = app.token_for(Role::Coordinator, "umea").await;
    let body: Value = get(&app, "/v1/trends?area=teg&category=weapons", &coordinator)
        .await
        .json()
        .await
        .unwrap();
    let series = &body["series"][0];
    let last = series["points"].as_array().unwrap().last().unwrap();
    assert_eq!(last["period"], week(0));
    assert_eq!(last["count"], Value::Null);
    assert_eq!(last["suppressed"], true);
    for field in ["rate_per_1000", "change_prev", "change_yoy"] {
        assert!(
            last[field].is_null(),
            "{field} would be computed from the hidden value"
        );
    }
    assert_eq!(
        last["rolling_mean"], 0.0,
        "the mean of the published points around it: the three zeros before"
    );
    assert_eq!(series["summary"]["total"], Value::Null);
    assert_eq!(series["summary"]["total_suppressed"], true);
    let empty = &series["points"][0];
    assert_eq!(
        (empty["count"].as_i64(), &empty["suppressed"]),
        (Some(0), &json!(false)),
        "a true zero is published"
    );
}

#[actix_web::test]
async fn coordinators_read_their_own_area_and_analyst_tokens_read_trends_and_exports() {
    let app = TestApp::spawn().await;
    let coordinator = app.token_for(Role::Coordinator, "umea").await;
    for outside in ["sollentuna", "vasterbotten", "umea,sollentuna", "stockholm"] {
        let response = get(&app, &format!("/v1/trends?area={outside}"), &coordinator).await;
        assert_problem(response, 403).await;
        let response = get(
            &app,
            &format!("/v1/exports/signal-counts.csv?area={outside}"),
            &coordinator,
        )
        .await;
        assert_problem(response, 403).await;
    }
    let admin = app.token_for(Role::Admin, "umea").await;
    let service = app.create_service_account(Role::Analyst, "umea");
    let minted: Value = app
        .authed(Method::POST, "/v1/api-tokens", &admin)
        .json(&json!({"name": "Power BI", "user_id": service.id, "permissions": ["reference:read", "trends:read"], "expires_in_days": 365}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = minted["token"].as_str().unwrap();
    assert_eq!(get(&app, "/v1/trends?by=area", token).await.status(), 200);
    let export = get(&app, "/v1/exports/signal-counts.csv", token).await;
    assert_eq!(export.status(), 200);
    assert_eq!(
        export.text().await.unwrap(),
        "period,area,age_band,category,arena,gender,source,count,suppressed\n"
    );
    let reporter = app.token_for(Role::Police, "umea").await;
    assert_problem(get(&app, "/v1/trends", &reporter).await, 403).await;
}

#[actix_web::test]
async fn bad_trend_parameters_are_refused_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let coordinator = app.token_for(Role::Coordinator, "umea").await;
    let cases: &[(&str, u16, &str)] = &[
        ("by=district", 422, "by"),
        ("by=area,area", 422, "by"),
        ("by=area,age_band,category,arena", 422, "by"),
        ("period=day", 422, "period"),
        ("from=2026-W60", 422, "from"),
        ("from=2025-W53", 422, "from"),
        ("to=2026-13-01", 422, "to"),
        ("from=2026-W40&to=2026-W30", 422, "from"),
        ("from=2000-W01&to=2026-W01", 422, "from"),
        ("category=nope", 422, "category"),
        ("age_band=99-100", 422, "age_band"),
        ("arena=moon", 422, "arena"),
        ("gender=unknown", 422, "gender"),
        ("source=coordinator", 422, "source"),
        ("area=atlantis", 422, "area"),
        ("area=teg&area_level=municipality", 422, "area_level"),
        ("area_level=street", 422, "area_level"),
        ("format=xml", 422, "format"),
        ("bom=true", 422, "bom"),
        ("colour=red", 422, "query"),
        ("area=sollentuna", 403, ""),
    ];
    for (query, status, field) in cases {
        let response = get(&app, &format!("/v1/trends?{query}"), &coordinator).await;
        let problem = assert_problem(response, *status).await;
        if !field.is_empty() {
            assert_eq!(problem["errors"][0]["field"], *field, "{query}: {problem}");
        }
    }
    for (query, field) in [
        ("by=area", "by"),
        ("format=csv", "format"),
        ("period=fortnight", "period"),
    ] {
        let response = get(
            &app,
            &format!("/v1/exports/signal-counts.csv?{query}"),
            &coordinator,
        )
        .await;
        assert_eq!(
            assert_problem(response, 422).await["errors"][0]["field"],
            field
        );
    }
    let response = get(&app, "/v1/alerts?week=2026-W99", &coordinator).await;
    assert_eq!(
        assert_problem(response, 422).await["errors"][0]["field"],
        "week"
    );
    let response = get(&app, &format!("/v1/alerts?week={}", week(2)), &coordinator).await;
    assert_eq!(
        assert_problem(response, 422).await["errors"][0]["field"],
        "week"
    );
}

#[actix_web::test]
async fn exports_stream_the_cube_and_answer_304_until_a_cell_changes() {
    let (app, coordinator) = app_with_history().await;
    let path = "/v1/exports/signal-counts.csv?period=week";
    let first = get(&app, path, &coordinator).await;
    assert_eq!(first.status(), 200);
    assert!(
        first.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let body = first.text().await.unwrap();
    let rows = body.lines().count() - 1;
    assert!(rows > 5000, "more than one cursor fetch: {rows} rows");

    let again = app
        .authed(Method::GET, path, &coordinator)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.text().await.unwrap().is_empty());

    let json: Value = get(
        &app,
        "/v1/exports/signal-counts.json?period=week",
        &coordinator,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        json["rows"].as_array().unwrap().len(),
        rows,
        "JSON and CSV hold the same cube"
    );

    let bom = get(&app, "/v1/exports/signal-counts.csv?bom=true", &coordinator).await;
    assert!(bom.text().await.unwrap().starts_with("\u{feff}period,area"));

    let school = app.token_for(Role::School, "umea").await;
    let stored = app
        .authed(Method::POST, "/v1/signals", &school)
        .json(&json!({"area": "teg", "age_band": "13-15", "category": "weapons", "arena": "school", "observed_week": week(0)}))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 201);
    let changed = app
        .authed(Method::GET, path, &coordinator)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200, "a new signal changes the ETag");
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);
}

#[actix_web::test]
async fn the_planted_rise_shows_as_a_rising_trend_and_alarms() {
    let (app, coordinator) = app_with_history().await;
    let body: Value = get(
        &app,
        &format!("/v1/trends?by=area&from={}&to={}", week(-25), week(0)),
        &coordinator,
    )
    .await
    .json()
    .await
    .unwrap();
    let series = body["series"].as_array().unwrap();
    assert_eq!(series.len(), 14, "one series per Umeå district");
    let rising = series
        .iter()
        .find(|s| s["key"]["area"] == "ostra-ersboda")
        .unwrap();
    assert_eq!(
        rising["summary"]["trend"], "rising",
        "{}",
        rising["summary"]
    );
    assert!(rising["summary"]["theil_sen_slope"].as_f64().unwrap() > 0.0);
    let alarms = rising["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| !p["alarm"].is_null())
        .count();
    assert!(alarms > 0, "the rise raises an EARS alarm");

    let mut any_alert = false;
    for offset in -9..=0 {
        let alerts: Value = get(
            &app,
            &format!("/v1/alerts?week={}", week(offset)),
            &coordinator,
        )
        .await
        .json()
        .await
        .unwrap();
        let list = alerts["alerts"].as_array().unwrap();
        let c3: Vec<f64> = list
            .iter()
            .map(|a| a["ears"]["c3"].as_f64().unwrap_or(f64::MIN))
            .collect();
        assert!(c3.windows(2).all(|w| w[0] >= w[1]), "sorted by C3: {c3:?}");
        any_alert |= list.iter().any(|a| a["area"] == "ostra-ersboda");
    }
    assert!(any_alert, "the rising district appears among the alerts");
}
