//! Indicators on real histories (issue 13): the reporting start, alarms that find the
//! planted rise, and the intervention effect as a segmented Poisson regression.

use diesel::{QueryableByName, RunQueryDsl, sql_query};
use lagesbild::domain::identity::Role;
use lagesbild::domain::period::PeriodKind;
use lagesbild::domain::week::IsoWeek;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, today, week};

/// The demo's history: Umeå over all 60 weeks, Sollentuna from 24 weeks ago (week −23)
/// with its start set there, after a pilot in Edsberg over weeks −31 … −24.
async fn app_with_history() -> TestApp {
    let app = TestApp::spawn().await;
    lagesbild::services::demo::generate(&mut app.db(), today(), 60, 7, |_, _| {}).unwrap();
    app
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(app: &TestApp, sql: &str) -> i64 {
    sql_query(sql).get_result::<Count>(&mut app.db()).unwrap().n
}

/// The first ISO week of a point's month (`2026-03` → its first week).
fn week_of(point: &Value) -> String {
    let (year, month) = point["period"].as_str().unwrap().split_once('-').unwrap();
    let first =
        chrono::NaiveDate::from_ymd_opt(year.parse().unwrap(), month.parse().unwrap(), 1).unwrap();
    // The month's first week is the one holding its first Thursday.
    let thursday = (0..7)
        .map(|d| first + chrono::Days::new(d))
        .find(|d| chrono::Datelike::weekday(d) == chrono::Weekday::Thu)
        .unwrap();
    IsoWeek::of(thursday).to_string()
}

fn area<'a>(areas: &'a Value, code: &str) -> &'a Value {
    areas
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["code"] == code)
        .unwrap_or_else(|| panic!("no area {code} in {areas}"))
}

async fn patch_area(app: &TestApp, token: &str, code: &str, body: Value) -> reqwest::Response {
    app.authed(Method::PATCH, &format!("/v1/areas/{code}"), token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn no_series_alert_export_or_effect_reads_a_week_before_reporting_start() {
    let app = app_with_history().await;
    let root = app.token_for(Role::Coordinator, "sverige").await;
    let start = week(-23);
    // The pilot's signals are stored, before the start its admin set.
    let pilot = count(
        &app,
        &format!(
            "SELECT count(*) AS n FROM signal_cells_by_week_area c JOIN areas a ON a.id = c.area_id
              WHERE a.code = 'edsberg' AND c.n > 0 AND c.week < '{}'",
            IsoWeek::parse(&start).unwrap().monday()
        ),
    );
    assert!(pilot > 0, "the demo's pilot filed signals before the start");

    let areas: Value = app.get_json("/v1/areas", &root).await;
    assert_eq!(
        area(&areas, "sollentuna")["reporting_start"],
        json!({"week": start, "set": true})
    );
    assert_eq!(
        area(&areas, "umea")["reporting_start"],
        json!({"week": week(-59), "set": false}),
        "Umeå keeps the default: its first week with a signal"
    );
    assert!(area(&areas, "edsberg").get("reporting_start").is_none());

    // Trends: every week before the start is missing, not zero, with no indicator.
    let body: Value = app
        .get_json(
            &format!(
                "/v1/trends?area=sollentuna&from={}&to={}",
                week(-40),
                week(0)
            ),
            &root,
        )
        .await;
    let series = &body["series"][0];
    assert_eq!(series["reporting_start"], start.as_str());
    let points = series["points"].as_array().unwrap();
    assert_eq!(points.len(), 41);
    for (i, point) in points.iter().enumerate() {
        let before = i < 17; // weeks −40 … −24
        assert_eq!(point["before_reporting_start"], before, "{point}");
        if before {
            assert!(
                point["count"].is_null() && point["suppressed"] == false,
                "{point}"
            );
            for field in ["rolling_mean", "change_prev", "change_yoy", "alarm"] {
                assert!(point[field].is_null(), "{field} before the start: {point}");
            }
        } else {
            assert!(point["count"].as_i64().unwrap() > 0, "{point}");
        }
    }
    // The summary adds published points only: the pilot is not in it.
    let after: i64 = points[17..]
        .iter()
        .filter_map(|p| p["count"].as_i64())
        .sum();
    assert_eq!(series["summary"]["total"], after);
    // A month or quarter that began before the start is missing as a whole.
    let monthly: Value = app
        .get_json(
            &format!(
                "/v1/trends?area=sollentuna&period=month&from={}&to={}",
                week(-40),
                week(0)
            ),
            &root,
        )
        .await;
    let start_week = IsoWeek::parse(&start).unwrap();
    for point in monthly["series"][0]["points"].as_array().unwrap() {
        let period = PeriodKind::Month.of(IsoWeek::parse(&week_of(point)).unwrap());
        let whole = period.first_week() >= start_week;
        assert_eq!(point["before_reporting_start"], !whole, "{point}");
        assert_eq!(point["count"].is_null(), !whole, "{point}");
    }

    // Alerts: none for Sollentuna in its first nine weeks, nor before them.
    let sollentuna = app.token_for(Role::Coordinator, "sollentuna").await;
    for offset in -31..=-15 {
        let alerts: Value = app
            .get_json(&format!("/v1/alerts?week={}", week(offset)), &sollentuna)
            .await;
        assert_eq!(
            alerts["alerts"],
            json!([]),
            "week {}: {alerts}",
            week(offset)
        );
    }

    // The export lists no row of a district before its municipality's start.
    let export = app
        .authed(
            Method::GET,
            &format!(
                "/v1/exports/signal-counts.csv?area=sollentuna&from={}&to={}",
                week(-40),
                week(0)
            ),
            &root,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 200);
    let body = export.text().await.unwrap();
    let periods: Vec<String> = body
        .lines()
        .skip(1)
        .map(|line| line.split(',').next().unwrap().to_owned())
        .collect();
    assert!(!periods.is_empty(), "{body}");
    assert!(
        periods.iter().all(|p| p.as_str() >= start.as_str()),
        "{body}"
    );

    // An effect starts its series at the reporting start, not 104 weeks before.
    let created: Value = app
        .authed(Method::POST, "/v1/interventions", &sollentuna)
        .json(&json!({"name": "Fältgrupp Edsberg", "area": "edsberg", "categories": ["school_disengagement"],
                      "age_bands": ["13-15", "16-17"], "level": "selective", "start_week": week(-8)}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let effect: Value = app
        .get_json(
            &format!(
                "/v1/interventions/{}/effect",
                created["id"].as_str().unwrap()
            ),
            &sollentuna,
        )
        .await;
    assert_eq!(effect["from"], start.as_str(), "{effect}");
    let weeks: Vec<&str> = effect["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["week"].as_str().unwrap())
        .collect();
    assert_eq!(weeks.first(), Some(&start.as_str()), "{effect}");
}

#[actix_web::test]
async fn admins_of_a_municipality_set_its_reporting_start_and_bad_values_change_nothing() {
    let app = app_with_history().await;
    let admin = app.token_for(Role::Admin, "umea").await;
    let coordinator = app.token_for(Role::Coordinator, "umea").await;
    let series = |body: &Value| body["series"][0]["points"].as_array().unwrap().clone();
    let path = format!("/v1/trends?area=umea&from={}&to={}", week(-30), week(0));
    let before = series(&app.get_json(&path, &coordinator).await);
    assert!(before.iter().all(|p| p["count"].as_i64().is_some()));

    let set = patch_area(&app, &admin, "umea", json!({"reporting_start": week(-20)})).await;
    assert_eq!(set.status(), 200);
    let set: Value = set.json().await.unwrap();
    assert_eq!(
        set["reporting_start"],
        json!({"week": week(-20), "set": true})
    );
    let now = series(&app.get_json(&path, &coordinator).await);
    for (i, point) in now.iter().enumerate() {
        assert_eq!(point["before_reporting_start"], i < 10, "{point}");
        if i >= 10 {
            assert_eq!(
                point["count"], before[i]["count"],
                "later weeks are unchanged"
            );
        }
    }

    let stored = || {
        count(
            &app,
            "SELECT count(*) AS n FROM areas WHERE reporting_start IS NOT NULL AND code = 'umea'",
        )
    };
    let district_admin = app.token_for(Role::Admin, "teg").await;
    let refused: [(&str, &str, Value, u16); 5] = [
        (
            admin.as_str(),
            "teg",
            json!({"reporting_start": week(-5)}),
            422,
        ),
        (
            admin.as_str(),
            "umea",
            json!({"reporting_start": week(1)}),
            422,
        ),
        (
            admin.as_str(),
            "umea",
            json!({"reporting_start": "2026-W60"}),
            422,
        ),
        (
            district_admin.as_str(),
            "umea",
            json!({"reporting_start": week(-5)}),
            404,
        ),
        (
            coordinator.as_str(),
            "umea",
            json!({"reporting_start": week(-5)}),
            403,
        ),
    ];
    for (token, code, body, status) in refused {
        let problem =
            assert_problem(patch_area(&app, token, code, body.clone()).await, status).await;
        if status == 422 {
            assert_eq!(
                problem["errors"][0]["field"], "reporting_start",
                "{body}: {problem}"
            );
        }
    }
    assert_eq!(stored(), 1);
    let areas: Value = app.get_json("/v1/areas", &admin).await;
    assert_eq!(area(&areas, "umea")["reporting_start"]["week"], week(-20));

    // null goes back to the default, the first week with a signal.
    let reset: Value = patch_area(&app, &admin, "umea", json!({"reporting_start": null}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        reset["reporting_start"],
        json!({"week": week(-59), "set": false})
    );
    assert_eq!(stored(), 0);
    let again = series(&app.get_json(&path, &coordinator).await);
    assert_eq!(again, before);
    let audited = count(
        &app,
        "SELECT count(*) AS n FROM audit_events WHERE action = 'area.update'",
    );
    assert_eq!(audited, 2, "both changes are audited, none of the refusals");
}

#[actix_web::test]
async fn a_municipality_without_signals_has_not_begun_reporting() {
    let app = TestApp::spawn().await;
    let coordinator = app.token_for(Role::Coordinator, "umea").await;
    let body: Value = app
        .get_json(
            &format!("/v1/trends?from={}&to={}", week(-3), week(0)),
            &coordinator,
        )
        .await;
    let series = &body["series"][0];
    assert!(series["reporting_start"].is_null(), "{series}");
    assert!(
        series["points"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["before_reporting_start"] == true && p["count"].is_null()),
        "{series}"
    );
    // The first signal starts it, from its week.
    let filed = app
        .authed(
            Method::POST,
            "/v1/signals",
            &app.token_for(Role::School, "umea").await,
        )
        .json(&crate::helpers::signal())
        .send()
        .await
        .unwrap();
    assert_eq!(filed.status(), 201);
    let body: Value = app
        .get_json(
            &format!("/v1/trends?from={}&to={}", week(-3), week(0)),
            &coordinator,
        )
        .await;
    assert_eq!(body["series"][0]["reporting_start"], week(0));
}

#[actix_web::test]
async fn the_planted_rise_raises_an_alert_in_its_first_three_weeks_and_says_why() {
    let app = app_with_history().await;
    let coordinator = app.token_for(Role::Coordinator, "umea").await;
    let rising = lagesbild::services::demo::RISING_CATEGORIES;
    let first_week = -(lagesbild::services::demo::RISE_WEEKS - 1);
    let mut found = None;
    for offset in first_week..first_week + 3 {
        let alerts: Value = app
            .get_json(&format!("/v1/alerts?week={}", week(offset)), &coordinator)
            .await;
        let hit = alerts["alerts"].as_array().unwrap().iter().find(|a| {
            a["area"] == "ostra-ersboda" && rising.contains(&a["category"].as_str().unwrap())
        });
        if let Some(hit) = hit {
            found = Some(hit.clone());
            break;
        }
    }
    let alert = found.expect("an alarm in the rise's first three weeks");
    let reasons = alert["reasons"].as_array().unwrap();
    assert!(!reasons.is_empty(), "{alert}");
    for reason in reasons {
        let statistic = reason["statistic"].as_str().unwrap();
        let value = reason["value"].as_f64().unwrap();
        assert!(value >= reason["threshold"].as_f64().unwrap(), "{reason}");
        assert_eq!(alert["ears"][statistic].as_f64(), Some(value));
        assert!(
            reason["text"]
                .as_str()
                .unwrap()
                .starts_with(&statistic.to_uppercase()),
            "{reason}"
        );
    }
    let c3 = reasons.iter().any(|r| r["statistic"] == "c3");
    assert_eq!(alert["alarm"] == "alert", c3, "an alert is C3's: {alert}");
    assert_eq!(alert["imputed_baseline"], alert["ears"]["imputed_baseline"]);
}

#[actix_web::test]
async fn a_coordinator_ends_an_intervention_and_bad_ends_change_nothing() {
    let app = TestApp::spawn().await;
    let coordinator = app.token_for(Role::Coordinator, "umea").await;
    let created: Value = app
        .authed(Method::POST, "/v1/interventions", &coordinator)
        .json(&json!({"name": "Fältgrupp Ersboda", "area": "ostra-ersboda", "categories": ["recruitment_approach"],
                      "age_bands": ["13-15"], "level": "selective", "start_week": week(-10)}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = format!("/v1/interventions/{}", created["id"].as_str().unwrap());
    let end = |token: &str, body: Value| app.authed(Method::PATCH, &path, token).json(&body).send();
    let stored_end = || {
        count(
            &app,
            "SELECT count(*) AS n FROM interventions WHERE end_week IS NOT NULL",
        )
    };

    // Before its start, not a week, an unknown field: 422 at the field, nothing changed.
    let before = assert_problem(
        end(&coordinator, json!({"end_week": week(-11)}))
            .await
            .unwrap(),
        422,
    )
    .await;
    assert_eq!(before["errors"][0]["field"], "end_week");
    assert_eq!(before["errors"][0]["code"], "before_start");
    let not_a_week = assert_problem(
        end(&coordinator, json!({"end_week": "2026-W60"}))
            .await
            .unwrap(),
        422,
    )
    .await;
    assert_eq!(not_a_week["errors"][0]["field"], "end_week");
    assert_problem(
        end(&coordinator, json!({"end_week": week(-1), "name": "x"}))
            .await
            .unwrap(),
        422,
    )
    .await;
    // Another municipality's coordinator does not find it; an analyst may not write.
    let sollentuna = app.token_for(Role::Coordinator, "sollentuna").await;
    assert_problem(
        end(&sollentuna, json!({"end_week": week(-1)}))
            .await
            .unwrap(),
        404,
    )
    .await;
    let analyst = app.token_for(Role::Analyst, "umea").await;
    assert_problem(
        end(&analyst, json!({"end_week": week(-1)})).await.unwrap(),
        403,
    )
    .await;
    assert_eq!(stored_end(), 0);

    let ended = end(&coordinator, json!({"end_week": week(-2)}))
        .await
        .unwrap();
    assert_eq!(ended.status(), 200);
    let ended: Value = ended.json().await.unwrap();
    assert_eq!(ended["end_week"], week(-2).as_str());
    let listed = app.get_json("/v1/interventions", &coordinator).await;
    assert_eq!(listed["items"][0]["end_week"], week(-2).as_str());
    assert_eq!(stored_end(), 1);

    // `null` reopens it.
    let reopened: Value = end(&coordinator, json!({"end_week": null}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reopened["end_week"], Value::Null);
    assert_eq!(stored_end(), 0);
    let audited = count(
        &app,
        "SELECT count(*) AS n FROM audit_events WHERE action = 'intervention.update'",
    );
    assert_eq!(audited, 2, "both changes are audited, none of the refusals");
}
