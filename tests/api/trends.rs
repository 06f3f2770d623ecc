//! Trends, alerts and exports: what coordinators and BI tools read, and proof that no
//! count below the threshold ever leaves the service.

use diesel::{QueryableByName, RunQueryDsl, sql_query};
use lagesbild::domain::identity::Role;
use lagesbild::domain::week::IsoWeek;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, today, week};

const MIN_COUNT: i64 = 5;

/// An app with 60 weeks of synthetic history (seeded) and an Umeå coordinator's token.
async fn app_with_history() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    lagesbild::services::demo::generate(&mut app.db(), today(), 60, 7, |_, _| {}).unwrap();
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

    let alerts: Value = app.get_json("/v1/alerts", &coordinator).await;
    let mut found = Vec::new();
    counts(&alerts, &mut found);
    found.push(Some(0)); // there may be no alarm this week
    assert_nothing_below_threshold("alerts", &found);

    // The finest export: only published cells are listed, so no row is empty or small.
    let export = get(
        &app,
        "/v1/exports/signal-counts.csv?period=month&dims=age_band,category,arena,gender,source",
        &coordinator,
    )
    .await
    .text()
    .await
    .unwrap();
    let exported = csv_counts(&export);
    assert!(
        exported.iter().all(|c| c.is_some_and(|c| c >= MIN_COUNT)),
        "every listed row is published: {exported:?}"
    );
    // By district and month (the default crossing): mostly published, so rows to check.
    let export = get(
        &app,
        "/v1/exports/signal-counts.csv?period=month",
        &coordinator,
    )
    .await
    .text()
    .await
    .unwrap();
    assert_nothing_below_threshold("export", &csv_counts(&export));
    let export: Value = app
        .get_json("/v1/exports/signal-counts.json", &coordinator)
        .await;
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

/// docs/design.md §5 written out independently of `src/disclosure.rs`.
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
    let table: Value = app
        .get_json(
            &format!("/v1/trends?by=area,category&{window}"),
            &coordinator,
        )
        .await;
    let row = table["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == json!({"area": "ostra-ersboda", "category": "drug_handling"}))
        .unwrap()
        .clone();
    let alone: Value = app
        .get_json(
            &format!("/v1/trends?area=ostra-ersboda&category=drug_handling&{window}"),
            &coordinator,
        )
        .await;
    let alone = &alone["series"][0];
    assert_eq!(
        row["points"], alone["points"],
        "every point and indicator agrees"
    );
    assert_eq!(row["summary"], alone["summary"]);

    // The full table (signal_cells) and the coarse one agree: ask through a filter that
    // forces the wide table, covering every gender.
    let wide: Value = app.get_json(&format!("/v1/trends?area=ostra-ersboda&category=drug_handling&gender=girl,boy,other,unspecified&{window}"), &coordinator).await;
    assert_eq!(wide["series"][0]["points"], alone["points"]);

    // The same for the district's total: per district (the coarsest table) and alone
    // through a filter that needs the full cells.
    let districts: Value = app
        .get_json(&format!("/v1/trends?by=area&{window}"), &coordinator)
        .await;
    let district = districts["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"]["area"] == "ostra-ersboda")
        .unwrap();
    let total: Value = app.get_json(&format!("/v1/trends?area=ostra-ersboda&source=school,field_worker,police,social_services,leisure&{window}"), &coordinator).await;
    assert_eq!(district["points"], total["series"][0]["points"]);

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
    // Umeå began reporting a year ago: its empty weeks are true zeros, not missing.
    let admin = app.token_for(Role::Admin, "umea").await;
    let started = app
        .authed(Method::PATCH, "/v1/areas/umea", &admin)
        .json(&json!({"reporting_start": week(-52)}))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 200);
    let coordinator = app.token_for(Role::Coordinator, "umea").await;
    let body: Value = app
        .get_json("/v1/trends?area=teg&category=weapons", &coordinator)
        .await;
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
    assert_eq!(
        series["summary"]["total"], 0,
        "the sum of the published points, which are all zeros"
    );
    assert_eq!(series["summary"]["total_incomplete"], true);
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
    let token = &app
        .mint_token(
            &admin,
            json!({"name": "Power BI", "user_id": service.id,
                   "permissions": ["reference:read", "trends:read"], "expires_in_days": 365}),
        )
        .await;
    assert_eq!(get(&app, "/v1/trends?by=area", token).await.status(), 200);
    let export = get(&app, "/v1/exports/signal-counts.csv", token).await;
    assert_eq!(export.status(), 200);
    assert_eq!(
        export.text().await.unwrap(),
        "period,area,age_band,category,arena,gender,source,count\n"
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
        ("by=area,age_band,category,arena", 422, "by"),
        ("period=day", 422, "period"),
        ("from=2026-W60", 422, "from"),
        ("from=2025-W53", 422, "from"),
        ("to=2026-13-01", 422, "to"),
        ("to=%2B262142-12-31", 422, "to"),
        ("from=1999-12-31", 422, "from"),
        ("by=age_band,category,arena&from=2023-W01", 422, "by"),
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
        ("bom=true", 422, "query"),
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
        ("by=area", "query"),
        ("format=csv", "query"),
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
    let response = get(&app, "/v1/alerts?week=-262143-01-10", &coordinator).await;
    assert_eq!(
        assert_problem(response, 422).await["errors"][0]["field"],
        "week"
    );
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
    // District × week, every other dimension "all": 14 districts × 60 weeks, nearly all
    // published, read 16 blocks at a time.
    assert!(rows > 500, "many reads of blocks: {rows} rows");
    assert!(
        body.lines()
            .nth(1)
            .unwrap()
            .contains(",all,all,all,all,all,")
    );

    let again = app
        .authed(Method::GET, path, &coordinator)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.text().await.unwrap().is_empty());

    let json: Value = app
        .get_json("/v1/exports/signal-counts.json?period=week", &coordinator)
        .await;
    assert_eq!(
        json["rows"].as_array().unwrap().len(),
        rows,
        "JSON and CSV hold the same cube"
    );

    let bom = get(&app, "/v1/exports/signal-counts.csv?bom=true", &coordinator).await;
    assert!(bom.text().await.unwrap().starts_with("\u{feff}period,area"));

    // Eight signals in a cell the history never used: published (8 ± 2), so a new row.
    let school = app.token_for(Role::School, "umea").await;
    let one = json!({"area": "teg", "age_band": "0-9", "category": "weapons", "arena": "other",
                     "gender": "other", "observed_week": week(0)});
    let stored = app
        .authed(Method::POST, "/v1/signals/batch", &school)
        .json(&json!({"signals": vec![one; 8]}))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 201);
    let path = "/v1/exports/signal-counts.csv?period=week&dims=age_band,category,arena,gender";
    let etag = get(&app, path, &coordinator).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let again = app
        .authed(Method::POST, "/v1/signals/batch", &school)
        .json(
            &json!({"signals": vec![json!({"area": "teg", "age_band": "0-9", "category": "weapons",
            "arena": "other", "gender": "other", "observed_week": week(-1)}); 8]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 201);
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
    let body: Value = app
        .get_json(
            &format!("/v1/trends?by=area&from={}&to={}", week(-25), week(0)),
            &coordinator,
        )
        .await;
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
        let alerts: Value = app
            .get_json(&format!("/v1/alerts?week={}", week(offset)), &coordinator)
            .await;
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

fn population_rows(app: &TestApp) -> i64 {
    count(app, "SELECT count(*) AS n FROM population")
}

async fn put_csv(app: &TestApp, token: &str, body: &str) -> reqwest::Response {
    app.authed(Method::PUT, "/v1/population", token)
        .header("content-type", "text/csv")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn population_uploads_give_rates_only_where_every_cell_is_covered() {
    let (app, coordinator) = app_with_history().await;
    let year = IsoWeek::of(today()).year();
    let mut csv = String::from("area,age_band,year,persons\n");
    for band in ["0-9", "10-12", "13-15", "16-17", "18-20"] {
        for y in year - 1..=year {
            csv.push_str(&format!("ostra-ersboda,{band},{y},1000\n"));
        }
    }
    let stored = put_csv(&app, &coordinator, &csv).await;
    assert_eq!(stored.status(), 200, "{}", stored.text().await.unwrap());
    let listed: Value = app.get_json("/v1/population", &coordinator).await;
    assert_eq!(listed.as_array().unwrap().len(), 10);

    let covered: Value = app
        .get_json(
            &format!("/v1/trends?area=ostra-ersboda&from={}", week(-8)),
            &coordinator,
        )
        .await;
    for point in covered["series"][0]["points"].as_array().unwrap() {
        match point["count"].as_f64() {
            Some(count) => assert_eq!(
                point["rate_per_1000"].as_f64(),
                Some(count / 5000.0 * 1000.0),
                "{point}"
            ),
            None => assert!(point["rate_per_1000"].is_null()),
        }
    }
    let partial: Value = app.get_json("/v1/trends?area=umea", &coordinator).await;
    assert!(
        partial["series"][0]["points"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["rate_per_1000"].is_null()),
        "13 of Umeå's 14 districts have no population"
    );

    // Bad uploads are refused whole, naming the line.
    let before = population_rows(&app);
    let header = "area,age_band,year,persons\n";
    let cases: &[(&str, u16, &str, Option<u64>)] = &[
        ("area,age_band,year\nteg,13-15,2026\n", 422, "persons", None),
        (
            &format!("{header}teg,13-15,2026,12\nteg,13-15,2026,-4\n"),
            422,
            "persons",
            Some(3),
        ),
        (
            &format!("{header}teg,13-15,2026,12.5\n"),
            422,
            "persons",
            Some(2),
        ),
        (
            &format!("{header}teg,13-15,1850,12\n"),
            422,
            "year",
            Some(2),
        ),
        (
            &format!("{header}umea,13-15,2026,12\n"),
            422,
            "area",
            Some(2),
        ),
        (
            &format!("{header}edsberg,13-15,2026,12\n"),
            422,
            "area",
            Some(2),
        ),
        (
            &format!("{header}teg,99-100,2026,12\n"),
            422,
            "age_band",
            Some(2),
        ),
        (
            &format!("{header}teg,13-15,2026,12\nteg,13-15,2026,13\n"),
            422,
            "area",
            Some(3),
        ),
        (&format!("{header}teg,13-15\n"), 422, "body", Some(2)),
        // Mixed separators: a `;` line in a `,` file, and the other way round.
        (
            &format!("{header}teg,13-15,2026,12\nteg;16-17;2026;12\n"),
            422,
            "body",
            Some(3),
        ),
        (
            "area;age_band;year;persons\r\nteg;13-15;2026;12\r\nteg,16-17,2026,12\r\n",
            422,
            "body",
            Some(3),
        ),
        (header, 422, "body", None),
    ];
    for (body, status, field, line) in cases {
        let problem = assert_problem(put_csv(&app, &coordinator, body).await, *status).await;
        assert_eq!(problem["errors"][0]["field"], *field, "{body}: {problem}");
        assert_eq!(
            problem["errors"][0]["index"].as_u64(),
            *line,
            "{body}: {problem}"
        );
    }
    let json_bad = app
        .authed(Method::PUT, "/v1/population", &coordinator)
        .json(
            &json!({"rows": [{"area": "teg", "age_band": "13-15", "year": 2026, "persons": 1.5}]}),
        )
        .send()
        .await
        .unwrap();
    let problem = assert_problem(json_bad, 422).await;
    assert_eq!(
        (
            problem["errors"][0]["index"].as_u64(),
            &problem["errors"][0]["field"]
        ),
        (Some(0), &json!("persons"))
    );
    let xml = app
        .authed(Method::PUT, "/v1/population", &coordinator)
        .header("content-type", "application/xml")
        .body("<rows/>")
        .send()
        .await
        .unwrap();
    assert_problem(xml, 415).await;
    assert_eq!(population_rows(&app), before, "nothing was stored");
    let analyst = app.token_for(Role::Analyst, "umea").await;
    assert_problem(
        put_csv(&app, &analyst, &format!("{header}teg,13-15,2026,12\n")).await,
        403,
    )
    .await;
}

#[actix_web::test]
async fn interventions_are_registered_in_scope_and_their_effect_is_estimated() {
    let (app, coordinator) = app_with_history().await;
    let body = json!({"name": "Fältgrupp Ersboda", "area": "ostra-ersboda",
        "categories": ["recruitment_approach", "digital_recruitment", "drug_handling", "older_contacts"],
        "age_bands": ["0-9", "10-12", "13-15", "16-17", "18-20"], "level": "selective", "start_week": week(-10)});
    let created = app
        .authed(Method::POST, "/v1/interventions", &coordinator)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["area"], "ostra-ersboda");
    let listed: Value = app.get_json("/v1/interventions", &coordinator).await;
    assert_eq!(listed["items"][0]["id"], created["id"]);

    let effect: Value = app
        .get_json(
            &format!(
                "/v1/interventions/{}/effect",
                created["id"].as_str().unwrap()
            ),
            &coordinator,
        )
        .await;
    assert_eq!(effect["outcome"], "estimated", "{effect}");
    assert!(effect["insufficient_reason"].is_null());
    // Weekly counts in one district are small: wholly suppressed weeks are left out. The
    // history (60 weeks) is shorter than two years: no seasons, and the series starts
    // at Umeå's reporting start, its first week with a signal.
    let (pre, post) = (
        effect["pre_points"].as_u64().unwrap(),
        effect["post_points"].as_u64().unwrap(),
    );
    assert!(
        (8..=50).contains(&pre) && (4..=10).contains(&post),
        "{effect}"
    );
    assert_eq!(effect["from"], week(-59));
    assert_eq!(effect["seasonal"], false);
    let level = &effect["level_change"];
    let ratio = level["rate_ratio"].as_f64().unwrap();
    assert!(
        level["ci_low"].as_f64().unwrap() < ratio && ratio < level["ci_high"].as_f64().unwrap(),
        "{level}"
    );
    assert!(
        ratio > 1.5,
        "the planted step rise, about fourfold: {effect}"
    );
    assert!(
        effect["post_mean"].as_f64().unwrap() > effect["pre_mean"].as_f64().unwrap(),
        "the planted rise: {effect}"
    );
    assert!(effect["dispersion"].as_f64().unwrap() > 0.0);
    // One week per week of the series, fitted and counterfactual alike before the start.
    let weeks = effect["series"].as_array().unwrap();
    assert_eq!(weeks.len(), 59, "{week} … {}", week(-1), week = week(-59));
    let before = &weeks[40];
    assert_eq!(before["week"], week(-19));
    assert_eq!(before["fitted"], before["counterfactual"]);
    let after = &weeks[58];
    assert!(
        after["fitted"].as_f64() > after["counterfactual"].as_f64(),
        "{after}"
    );

    let fresh = app
        .authed(Method::POST, "/v1/interventions", &coordinator)
        .json(&json!({"name": "Ny satsning", "area": "teg", "categories": ["weapons"], "age_bands": ["16-17"], "level": "universal", "start_week": week(0)}))
        .send()
        .await
        .unwrap();
    let fresh: Value = fresh.json().await.unwrap();
    let effect: Value = app
        .get_json(
            &format!("/v1/interventions/{}/effect", fresh["id"].as_str().unwrap()),
            &coordinator,
        )
        .await;
    assert_eq!(effect["outcome"], "insufficient_data");
    assert_eq!(effect["insufficient_reason"], "too_few_points");
    assert!(effect["level_change"].is_null());

    let bad: &[(Value, u16, &str)] = &[
        (json!({"start_week": week(3)}), 422, "start_week"),
        (json!({"start_week": "2026-W54"}), 422, "start_week"),
        (json!({"end_week": week(-20)}), 422, "end_week"),
        (json!({"categories": ["astrology"]}), 422, "categories"),
        (json!({"categories": []}), 422, "categories"),
        (json!({"level": "total"}), 422, "level"),
        (json!({"area": "atlantis"}), 422, "area"),
        (json!({"name": ""}), 422, "name"),
        (json!({"personnummer": "200101012384"}), 422, "personnummer"),
        (json!({"area": "sollentuna"}), 403, ""),
    ];
    for (change, status, field) in bad {
        let mut sent = body.clone();
        for (key, value) in change.as_object().unwrap() {
            sent[key] = value.clone();
        }
        let response = app
            .authed(Method::POST, "/v1/interventions", &coordinator)
            .json(&sent)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, *status).await;
        if !field.is_empty() {
            assert_eq!(problem["errors"][0]["field"], *field, "{change}: {problem}");
        }
    }
    let listed: Value = app.get_json("/v1/interventions", &coordinator).await;
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        2,
        "no bad request stored anything"
    );

    let sollentuna = app.token_for(Role::Coordinator, "sollentuna").await;
    let hidden = get(
        &app,
        &format!(
            "/v1/interventions/{}/effect",
            created["id"].as_str().unwrap()
        ),
        &sollentuna,
    )
    .await;
    assert_problem(hidden, 404).await;
}

#[actix_web::test]
async fn the_export_etag_changes_only_when_a_published_value_does() {
    let app = TestApp::spawn().await;
    let school = app.token_for(Role::School, "umea").await;
    let coordinator = app.token_for(Role::Coordinator, "umea").await;
    let send = |n: usize| {
        let (app, school) = (&app, &school);
        async move {
            for _ in 0..n {
                let status = app
                    .authed(Method::POST, "/v1/signals", school)
                    .json(&json!({"area": "teg", "age_band": "13-15", "category": "weapons", "arena": "school", "observed_week": week(0)}))
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_eq!(status, 201);
            }
        }
    };
    let export = |etag: Option<String>| {
        let (app, coordinator) = (&app, &coordinator);
        async move {
            let mut request = app.authed(Method::GET, "/v1/exports/signal-counts.csv", coordinator);
            if let Some(etag) = etag {
                request = request.header("if-none-match", etag);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let etag = response.headers()["etag"].to_str().unwrap().to_owned();
            (status, etag, response.text().await.unwrap())
        }
    };
    send(1).await;
    let (_, first, body) = export(None).await;
    assert_eq!(
        body, "period,area,age_band,category,arena,gender,source,count\n",
        "one signal: suppressed, so not listed"
    );
    send(1).await;
    let (status, same, _) = export(Some(first.clone())).await;
    assert_eq!(
        (status, &same),
        (304, &first),
        "n = 2 is still suppressed: nothing visible changed"
    );
    // Repacking changes nothing a client sees, and a proxy's weak form of the tag matches.
    lagesbild::cube::store::refresh(&mut app.db(), |_, _| {}).unwrap();
    let (status, packed, _) = export(Some(format!("W/{first}"))).await;
    assert_eq!((status, &packed), (304, &first));
    send(6).await;
    let (status, changed, body) = export(Some(first.clone())).await;
    assert_eq!(status, 200, "n = 8 is published (8 ± 2 ≥ 5)");
    assert_ne!(changed, first);
    assert_eq!(body.lines().count(), 2, "now listed: {body}");
    assert!(
        body.contains(&format!("{},teg,all,all,all,all,all,", week(0))),
        "{body}"
    );

    // A signal the export leaves out (another category, in a district that had none
    // that week) changes nothing it shows, so nothing in its tag.
    let weapons = "/v1/exports/signal-counts.csv?category=weapons";
    let before = get(&app, weapons, &coordinator).await;
    let tag = before.headers()["etag"].to_str().unwrap().to_owned();
    let stored = app
        .authed(Method::POST, "/v1/signals", &school)
        .json(&json!({"area": "haga", "age_band": "13-15", "category": "drug_handling", "arena": "school", "observed_week": week(0)}))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 201);
    let after = app
        .authed(Method::GET, weapons, &coordinator)
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 304);
}

/// The first week of the month (`months` = 1) or quarter (3) that `week` counts in: the
/// one of its Thursday, worked out here independently of `src/domain/period.rs`.
fn first_week_of(week: &str, months: u32) -> String {
    use chrono::{Datelike, Days};
    let thursday = IsoWeek::parse(week).unwrap().monday() + Days::new(3);
    let first = chrono::NaiveDate::from_ymd_opt(
        thursday.year(),
        thursday.month0() / months * months + 1,
        1,
    )
    .unwrap();
    let to_thursday = (3 + 7 - first.weekday().num_days_from_monday()) % 7;
    IsoWeek::of(first + Days::new(to_thursday.into())).to_string()
}

fn count(app: &TestApp, sql: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    sql_query(sql).get_result::<Count>(&mut app.db()).unwrap().n
}

/// The export as a set of lines (the header left out), for comparing contents.
async fn export_lines(app: &TestApp, path: &str, token: &str) -> (String, Vec<String>) {
    let response = get(app, path, token).await;
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let mut lines: Vec<String> = response
        .text()
        .await
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect();
    lines.sort();
    (etag, lines)
}

/// The lines the export should hold for `period_sql` (the SQL that turns a week's Monday
/// into its period label) crossing `dims` (the others "all"), computed straight from
/// `signal_cells` with the cell key method written out in this file: only cells
/// published with a count are listed.
fn expected_export(
    app: &TestApp,
    period_sql: &str,
    from: &str,
    to: &str,
    dims: &[&str],
) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        prefix: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        key_sum: i64,
    }
    let monday = |w: &str| IsoWeek::parse(w).unwrap().monday();
    let column = |dim: &str, sql: &str| {
        if dims.contains(&dim) {
            sql.to_owned()
        } else {
            "'all'".to_owned()
        }
    };
    let columns = [
        column("age_band", "ab.code"),
        column("category", "k.code"),
        column("arena", "ar.code"),
        column("gender", "c.gender"),
        column("source", "c.source"),
    ]
    .join(", ");
    let rows: Vec<Row> = sql_query(format!(
        "SELECT concat_ws(',', {period_sql}, a.code, {columns}) AS prefix,
                sum(c.n)::int8 AS n, sum(c.key_sum)::int8 AS key_sum
           FROM signal_cells c JOIN areas a ON a.id = c.area_id JOIN age_bands ab ON ab.id = c.age_band_id
           JOIN categories k ON k.id = c.category_id JOIN arenas ar ON ar.id = c.arena_id
          WHERE a.path LIKE '/vasterbotten/umea/%' AND c.week BETWEEN $1 AND $2
          GROUP BY 1 HAVING sum(c.n) > 0"
    ))
    .bind::<diesel::sql_types::Date, _>(monday(from))
    .bind::<diesel::sql_types::Date, _>(monday(to))
    .load(&mut app.db())
    .unwrap();
    let mut lines: Vec<String> = rows
        .into_iter()
        .filter_map(|r| {
            cell_key(r.n, r.key_sum)
                .filter(|count| *count > 0)
                .map(|count| format!("{},{count}", r.prefix))
        })
        .collect();
    lines.sort();
    lines
}

#[actix_web::test]
async fn exports_publish_the_same_cube_from_packed_blocks_as_from_the_cells() {
    let (app, coordinator) = app_with_history().await;
    let (from, to) = (week(-20), week(0));
    // Weekly per district (every other dimension "all"); monthly by category.
    let weekly = format!("/v1/exports/signal-counts.csv?from={from}&to={to}");
    let monthly = format!("{weekly}&period=month&dims=category");
    let week_label = "to_char(c.week, 'IYYY-\"W\"IW')";
    // A week belongs to the month of its Thursday; the months asked for are whole.
    let month_label = "to_char(c.week + 3, 'YYYY-MM')";
    let month_from = first_week_of(&from, 1);

    // No blocks yet: the export reads the cells.
    let (weekly_tag, from_cells) = export_lines(&app, &weekly, &coordinator).await;
    assert!(from_cells.len() > 200, "{} rows", from_cells.len());
    assert_eq!(
        from_cells,
        expected_export(&app, week_label, &from, &to, &[])
    );
    let (monthly_tag, monthly_from_cells) = export_lines(&app, &monthly, &coordinator).await;
    assert!(
        monthly_from_cells.len() > 50,
        "{} rows",
        monthly_from_cells.len()
    );
    assert_eq!(
        monthly_from_cells,
        expected_export(&app, month_label, &month_from, &to, &["category"])
    );

    // Packed: the same rows and the same ETag.
    let report = lagesbild::cube::store::refresh(&mut app.db(), |_, _| {}).unwrap();
    assert_eq!(
        report.blocks as i64,
        count(&app, "SELECT count(*) AS n FROM signal_cells_by_week_area"),
        "a block per district and week with signals"
    );
    let (tag, from_blocks) = export_lines(&app, &weekly, &coordinator).await;
    assert_eq!((&tag, &from_blocks), (&weekly_tag, &from_cells));
    let (tag, monthly_from_blocks) = export_lines(&app, &monthly, &coordinator).await;
    assert_eq!(
        (&tag, &monthly_from_blocks),
        (&monthly_tag, &monthly_from_cells)
    );
    let again = lagesbild::cube::store::refresh(&mut app.db(), |_, _| {}).unwrap();
    assert_eq!(again.blocks, 0, "nothing changed, nothing rebuilt");

    // The exports above really read the blocks: a block that lies (n + 20 in its first
    // cell, at the current revision) shows in the next export, in exactly one row.
    let (week, area, block) = first_block(&app, &from);
    let mut cells = Vec::new();
    lagesbild::cube::block::decode_into(&block, &mut cells).unwrap();
    cells[0].cell.n += 20;
    store_block(
        &app,
        week,
        area,
        &lagesbild::cube::block::encode(&cells).unwrap(),
    );
    let (_, lying) = export_lines(&app, &weekly, &coordinator).await;
    let differing: Vec<&String> = lying.iter().filter(|l| !from_cells.contains(l)).collect();
    assert_eq!(differing.len(), 1, "{differing:?}");
    store_block(&app, week, area, &block);

    // New signals make this week's block stale: the export reads its cells instead and
    // shows them at once, before any rebuild.
    let school = app.token_for(Role::School, "umea").await;
    let batch: Vec<Value> = (0..12)
        .map(|_| json!({"area": "teg", "age_band": "13-15", "category": "weapons", "arena": "school", "gender": "girl", "observed_week": to}))
        .collect();
    let stored = app
        .authed(Method::POST, "/v1/signals/batch", &school)
        .json(&json!({ "signals": batch }))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 201);
    let (changed_tag, changed) = export_lines(&app, &weekly, &coordinator).await;
    assert_ne!(changed_tag, weekly_tag);
    assert_eq!(changed, expected_export(&app, week_label, &from, &to, &[]));
    assert!(
        changed
            .iter()
            .any(|l| l.starts_with(&format!("{to},teg,all,all,all,all,all,"))),
        "teg's week is published"
    );
    let rebuilt = lagesbild::cube::store::refresh(&mut app.db(), |_, _| {}).unwrap();
    assert_eq!(rebuilt.blocks, 1, "only teg's week changed");
    assert_eq!(
        export_lines(&app, &weekly, &coordinator).await,
        (changed_tag, changed.clone())
    );

    // Months mixing packed weeks and this week's stale block, quarters, and the JSON
    // export: each publishes what the cells say.
    lagesbild::cube::store::refresh(&mut app.db(), |_, _| {}).unwrap();
    let stored = app
        .authed(Method::POST, "/v1/signals/batch", &school)
        .json(&json!({ "signals": batch }))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 201);
    assert_eq!(
        export_lines(&app, &monthly, &coordinator).await.1,
        expected_export(&app, month_label, &month_from, &to, &["category"])
    );
    let quarterly = format!(
        "/v1/exports/signal-counts.csv?from={to}&to={to}&period=quarter&dims=age_band,arena"
    );
    let quarter_label = "to_char(c.week + 3, 'YYYY') || '-Q' || to_char(c.week + 3, 'Q')";
    let quarter_from = first_week_of(&to, 3);
    assert_eq!(
        export_lines(&app, &quarterly, &coordinator).await.1,
        expected_export(
            &app,
            quarter_label,
            &quarter_from,
            &to,
            &["age_band", "arena"]
        )
    );
    let json: Value = app
        .get_json(
            &format!("/v1/exports/signal-counts.json?from={from}&to={to}"),
            &coordinator,
        )
        .await;
    let mut from_json: Vec<String> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let field = |k: &str| r[k].as_str().unwrap().to_owned();
            format!(
                "{},{},{},{},{},{},{},{}",
                field("period"),
                field("area"),
                field("age_band"),
                field("category"),
                field("arena"),
                field("gender"),
                field("source"),
                r["count"].as_i64().unwrap()
            )
        })
        .collect();
    from_json.sort();
    let weekly_now = expected_export(&app, week_label, &from, &to, &[]);
    assert_eq!(from_json, weekly_now);

    // A damaged block is read around, not trusted.
    sql_query("UPDATE cube_blocks SET cells = '\\x0102'::bytea")
        .execute(&mut app.db())
        .unwrap();
    assert_eq!(
        export_lines(&app, &weekly, &coordinator).await.1,
        weekly_now
    );
}

/// The oldest stored block from `from` on: its week, district and bytes.
fn first_block(app: &TestApp, from: &str) -> (chrono::NaiveDate, i32, Vec<u8>) {
    #[derive(QueryableByName)]
    struct Block {
        #[diesel(sql_type = diesel::sql_types::Date)]
        week: chrono::NaiveDate,
        #[diesel(sql_type = diesel::sql_types::Integer)]
        area_id: i32,
        #[diesel(sql_type = diesel::sql_types::Bytea)]
        cells: Vec<u8>,
    }
    let block: Block = sql_query(
        "SELECT week, area_id, cells FROM cube_blocks
          WHERE week >= $1 AND length(cells) > 1
            AND area_id IN (SELECT id FROM areas WHERE path LIKE '/vasterbotten/umea/%')
          ORDER BY week, area_id LIMIT 1",
    )
    .bind::<diesel::sql_types::Date, _>(IsoWeek::parse(from).unwrap().monday())
    .get_result(&mut app.db())
    .unwrap();
    (block.week, block.area_id, block.cells)
}

fn store_block(app: &TestApp, week: chrono::NaiveDate, area_id: i32, cells: &[u8]) {
    sql_query("UPDATE cube_blocks SET cells = $3 WHERE week = $1 AND area_id = $2")
        .bind::<diesel::sql_types::Date, _>(week)
        .bind::<diesel::sql_types::Integer, _>(area_id)
        .bind::<diesel::sql_types::Bytea, _>(cells)
        .execute(&mut app.db())
        .unwrap();
}

#[actix_web::test]
async fn population_csv_loads_as_swedish_excel_and_scb_write_it() {
    let app = TestApp::spawn().await;
    let coordinator = app.token_for(Role::Coordinator, "umea").await;
    let uploads = [
        // Swedish Excel: `;` between fields.
        "area;age_band;year;persons\nteg;13-15;2026;412\n",
        // SCB's statistical database: every field quoted, one holding the separator and
        // a quote.
        "\"region\",\"area\",\"age_band\",\"year\",\"persons\"\n\
         \"2480 Umeå, \"\"Teg\"\"\",\"teg\",\"16-17\",\"2026\",\"288\"\n",
        // Excel's "CSV UTF-8": a byte order mark, CRLF and an empty formatted row.
        "\u{feff}area;age_band;year;persons\r\nteg;18-20;2026;305\r\n;;;\r\n",
    ];
    for body in uploads {
        let response = put_csv(&app, &coordinator, body).await;
        assert_eq!(response.status(), 200, "{body:?}");
        let receipt: Value = response.json().await.unwrap();
        assert_eq!(receipt["stored"], 1, "{body:?}");
    }
    let listed: Value = app.get_json("/v1/population?year=2026", &coordinator).await;
    let mut stored: Vec<(String, String, i64)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["area"].as_str().unwrap().to_owned(),
                r["age_band"].as_str().unwrap().to_owned(),
                r["persons"].as_i64().unwrap(),
            )
        })
        .collect();
    stored.sort();
    assert_eq!(
        stored,
        [("13-15", 412), ("16-17", 288), ("18-20", 305)].map(|(band, persons)| (
            "teg".to_owned(),
            band.to_owned(),
            persons
        ))
    );

    // A line split by the other separator, or with too few or too many fields, is named
    // by its line (blank lines counted), and nothing of the upload is stored.
    let before = population_rows(&app);
    let cases = [
        (
            "area;age_band;year;persons\nteg;0-9;2026;100\nteg,10-12,2026,90\n",
            "mixed_separators",
            3,
        ),
        (
            "area,age_band,year,persons\r\nteg,0-9,2026,100\r\nteg;10-12;2026;90\r\n",
            "mixed_separators",
            3,
        ),
        (
            "area;age_band;year;persons\r\nteg;0-9;2026;100\r\nteg;10-12;2026\r\n",
            "wrong_field_count",
            3,
        ),
        (
            "area,age_band,year,persons\nteg,0-9,2026,100\n\n\"teg\",\"10-12\",\"2026\",\"90\",\"x,y\"\n",
            "wrong_field_count",
            4,
        ),
    ];
    for (body, code, line) in cases {
        let problem = assert_problem(put_csv(&app, &coordinator, body).await, 422).await;
        let error = &problem["errors"][0];
        assert_eq!(
            (
                error["field"].as_str(),
                error["code"].as_str(),
                error["index"].as_u64()
            ),
            (Some("body"), Some(code), Some(line)),
            "{body:?}: {problem}"
        );
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains(&format!("line {line}")),
            "{problem}"
        );
    }
    assert_eq!(population_rows(&app), before, "nothing was stored");
}

#[actix_web::test]
async fn csv_for_swedish_excel_has_semicolons_and_decimal_commas() {
    let (app, coordinator) = app_with_history().await;
    let year = IsoWeek::of(today()).year();
    let mut population = String::from("area;age_band;year;persons\n");
    for band in ["0-9", "10-12", "13-15", "16-17", "18-20"] {
        for y in year - 1..=year {
            population.push_str(&format!("ostra-ersboda;{band};{y};1000\n"));
        }
    }
    let stored = put_csv(&app, &coordinator, &population).await;
    assert_eq!(stored.status(), 200, "{}", stored.text().await.unwrap());

    let query = format!("/v1/trends?area=ostra-ersboda&by=area&from={}", week(-20));
    let report: Value = app.get_json(&query, &coordinator).await;
    let points = report["series"][0]["points"].as_array().unwrap();
    let csv_of = |delimiter: &'static str| {
        let (app, coordinator, query) = (&app, &coordinator, &query);
        async move {
            let response = get(app, &format!("{query}&format=csv{delimiter}"), coordinator).await;
            assert_eq!(response.status(), 200, "{delimiter}");
            response.text().await.unwrap()
        }
    };
    let comma = csv_of("").await;
    assert_eq!(csv_of("&delimiter=comma").await, comma);
    // `/v1/trends.csv` (one media type per operation, for generated clients) answers
    // the same bytes as `format=csv`, semicolons too; it refuses another format.
    let csv_path = query.replacen("/v1/trends?", "/v1/trends.csv?", 1);
    for delimiter in ["", "&delimiter=semicolon"] {
        let response = get(&app, &format!("{csv_path}{delimiter}"), &coordinator).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/csv; charset=utf-8"
        );
        assert_eq!(
            response.text().await.unwrap(),
            csv_of(delimiter).await,
            "{delimiter}"
        );
    }
    let json = get(&app, &format!("{csv_path}&format=json"), &coordinator).await;
    assert_eq!(
        assert_problem(json, 422).await["errors"][0]["field"],
        "format"
    );

    // By default, the cells are written as before: plain `,`, decimals in Rust's
    // shortest form. (JSON numbers come back within a rounding step, not bit for bit.)
    let header = "area,period,count,suppressed,incomplete,rate_per_1000,rolling_mean,change_prev,change_yoy,ears_c1,ears_c2,ears_c3,alarm";
    let mut lines = comma.lines();
    assert_eq!(lines.next(), Some(header));
    let rows: Vec<Vec<&str>> = lines.map(|line| line.split(',').collect()).collect();
    assert_eq!(rows.len(), points.len());
    for (row, p) in rows.iter().zip(points) {
        assert_eq!(
            row[..5],
            [
                "ostra-ersboda",
                p["period"].as_str().unwrap(),
                &p["count"]
                    .as_i64()
                    .map_or_else(String::new, |c| c.to_string()),
                &p["suppressed"].to_string(),
                &p["incomplete"].to_string(),
            ],
            "{point}",
            point = p
        );
        assert_eq!(row[12], p["alarm"].as_str().unwrap_or_default());
        let decimals = [
            &p["rate_per_1000"],
            &p["rolling_mean"],
            &p["change_prev"],
            &p["change_yoy"],
            &p["ears"]["c1"],
            &p["ears"]["c2"],
            &p["ears"]["c3"],
        ];
        for (cell, value) in row[5..12].iter().zip(decimals) {
            match value.as_f64() {
                None => assert_eq!(*cell, "", "{p}"),
                Some(value) => {
                    let written: f64 = cell.parse().unwrap();
                    assert_eq!(format!("{written}"), *cell, "shortest form");
                    assert!(
                        (written - value).abs() <= 1e-12 * value.abs().max(1.0),
                        "{p}"
                    );
                }
            }
        }
    }

    // `;` between fields, and every decimal with a comma.
    let semicolon = csv_of("&delimiter=semicolon").await;
    assert!(
        semicolon.starts_with(&format!("{}\n", header.replace(',', ";"))),
        "{semicolon}"
    );
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(semicolon.as_bytes());
    let parsed: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(parsed.len(), rows.len());
    for (record, row) in parsed.iter().zip(&rows) {
        let want: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                if (5..12).contains(&i) {
                    cell.replace('.', ",")
                } else {
                    (*cell).to_owned()
                }
            })
            .collect();
        assert_eq!(record.iter().collect::<Vec<_>>(), want);
    }
    assert!(
        parsed.iter().any(|record| record[5].contains(',')),
        "some rate has a decimal comma: {semicolon}"
    );

    // The export: the same cells, only the separator differs.
    let export = |query: &'static str| {
        let (app, coordinator) = (&app, &coordinator);
        async move {
            let response = get(
                app,
                &format!("/v1/exports/signal-counts.csv?period=month{query}"),
                coordinator,
            )
            .await;
            assert_eq!(response.status(), 200, "{query}");
            response.text().await.unwrap()
        }
    };
    let (comma, semicolon) = (export("").await, export("&delimiter=semicolon").await);
    assert!(semicolon.starts_with("period;area;age_band;category;arena;gender;source;count\n"));
    assert_eq!(semicolon.replace(';', ","), comma);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(semicolon.as_bytes());
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(row.len(), 8, "{row:?}");
    assert!(row[7].parse::<i64>().unwrap() >= MIN_COUNT, "{row:?}");
    assert!(
        export("&delimiter=semicolon&bom=true")
            .await
            .starts_with("\u{feff}period;area;")
    );

    // A delimiter that is not comma or semicolon, or one on JSON, is refused.
    for (path, field) in [
        ("/v1/trends?format=csv&delimiter=tab", "delimiter"),
        ("/v1/trends?format=csv&delimiter=", "delimiter"),
        ("/v1/trends?delimiter=semicolon", "delimiter"),
        ("/v1/exports/signal-counts.csv?delimiter=pipe", "delimiter"),
        (
            "/v1/exports/signal-counts.json?delimiter=semicolon",
            "query",
        ),
    ] {
        let problem = assert_problem(get(&app, path, &coordinator).await, 422).await;
        assert_eq!(problem["errors"][0]["field"], field, "{path}: {problem}");
    }
}

#[actix_web::test]
async fn each_principal_has_a_query_budget_over_trends_alerts_exports_and_effects() {
    let app = TestApp::spawn_with(|settings| settings.queries.quota = 4).await;
    let coordinator = app.token_for(Role::Coordinator, "umea").await;
    let other = app.token_for(Role::Coordinator, "umea").await;
    for path in [
        "/v1/trends",
        "/v1/alerts",
        "/v1/exports/signal-counts.csv",
        "/v1/exports/signal-counts.json",
    ] {
        let response = app
            .authed(Method::GET, path, &coordinator)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path} within the budget");
    }
    let refused = app
        .authed(Method::GET, "/v1/trends", &coordinator)
        .send()
        .await
        .unwrap();
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&retry_after), "{retry_after}");
    assert_problem(refused, 429).await;
    let theirs = app
        .authed(Method::GET, "/v1/trends", &other)
        .send()
        .await
        .unwrap();
    assert_eq!(
        theirs.status(),
        200,
        "another principal has a budget of its own"
    );
}
