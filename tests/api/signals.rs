//! Signal intake: what reporters send, what is stored, and what is refused.

use diesel::{QueryableByName, RunQueryDsl, sql_query};
use lagesbild::domain::identity::Role;
use lagesbild::domain::week::IsoWeek;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, signal, today, week};

fn with(mut base: Value, changes: Value) -> Value {
    for (key, value) in changes.as_object().unwrap() {
        base[key] = value.clone();
    }
    base
}

fn without(mut base: Value, key: &str) -> Value {
    base.as_object_mut().unwrap().remove(key);
    base
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Fingerprint {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

/// Every byte of the signals and cells tables, in a stable order.
fn fingerprint(app: &TestApp) -> String {
    let row: Fingerprint = sql_query(
        "SELECT coalesce((SELECT string_agg(s::text, '|' ORDER BY s.id) FROM signals s), '') || '#' ||
                coalesce((SELECT string_agg(c::text, '|' ORDER BY c.week, c.area_id, c.age_band_id, c.category_id,
                                                               c.arena_id, c.gender, c.source) FROM signal_cells c), '')
                AS value",
    )
    .get_result(&mut app.db())
    .unwrap();
    row.value
}

#[derive(QueryableByName, Debug)]
struct Cell {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    key_sum: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    keys: i64,
}

/// The cell of area `teg`, `13-15`, `digital_recruitment`, `social_media`, `girl`, `school`,
/// and the sum of the record keys of the signals stored in it.
fn teg_cell(app: &TestApp) -> Option<Cell> {
    sql_query(
        "SELECT c.n, c.key_sum,
                (SELECT coalesce(sum(derived_record_key(s.submitted_by, s.week, s.area_id, s.age_band_id, s.category_id, s.arena_id, s.gender, s.source, s.ordinal)), 0)::bigint FROM signals s
                  WHERE (s.week, s.area_id, s.age_band_id, s.category_id, s.arena_id, s.gender, s.source)
                      = (c.week, c.area_id, c.age_band_id, c.category_id, c.arena_id, c.gender, c.source)) AS keys
           FROM signal_cells c JOIN areas a ON a.id = c.area_id JOIN categories k ON k.id = c.category_id
          WHERE a.code = 'teg' AND k.code = 'digital_recruitment' AND c.gender = 'girl' AND c.source = 'school'",
    )
    .get_result(&mut app.db())
    .ok()
}

async fn post(app: &TestApp, path: &str, token: &str, body: &Value) -> reqwest::Response {
    app.authed(Method::POST, path, token)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_signal_is_stored_as_codes_and_a_week_and_counted_in_its_cell() {
    let app = TestApp::spawn().await;
    let school = app.token_for(Role::School, "umea").await;
    let response = post(
        &app,
        "/v1/signals",
        &school,
        &with(
            signal(),
            json!({"observed_week": null, "observed_on": today().to_string()}),
        ),
    )
    .await;
    assert_eq!(response.status(), 201);
    let stored: Value = response.json().await.unwrap();
    assert_eq!(stored["week"], week(0), "only the week of the date is kept");
    assert_eq!(
        stored["source"], "school",
        "the source is the credential's role"
    );
    for (field, value) in [
        ("area", "teg"),
        ("age_band", "13-15"),
        ("category", "digital_recruitment"),
        ("arena", "social_media"),
        ("gender", "girl"),
    ] {
        assert_eq!(stored[field], value);
    }
    let cell = teg_cell(&app).expect("a cell");
    assert_eq!(cell.n, 1);
    assert_eq!(
        cell.key_sum, cell.keys,
        "key_sum is the sum of the record keys"
    );
    assert!((0..1i64 << 31).contains(&cell.key_sum));

    post(&app, "/v1/signals", &school, &signal()).await;
    let cell = teg_cell(&app).unwrap();
    assert_eq!((cell.n, cell.key_sum), (2, cell.keys));

    #[derive(QueryableByName)]
    struct Columns {
        #[diesel(sql_type = diesel::sql_types::Text)]
        names: String,
    }
    let columns: Columns = sql_query(
        "SELECT string_agg(column_name::text, ',' ORDER BY ordinal_position) AS names FROM information_schema.columns WHERE table_name = 'signals'",
    )
    .get_result(&mut app.db())
    .unwrap();
    assert_eq!(
        columns.names,
        "id,week,area_id,age_band_id,category_id,arena_id,gender,source,submitted_by,created_at,ordinal",
        "no column could hold free text or personal data"
    );
}

#[actix_web::test]
async fn a_batch_is_stored_whole_and_counted() {
    let app = TestApp::spawn().await;
    let police = app.token_for(Role::Police, "umea").await;
    let items = vec![
        signal(),
        signal(),
        with(signal(), json!({"area": "haga", "gender": null})),
    ];
    let response = post(
        &app,
        "/v1/signals/batch",
        &police,
        &json!({"signals": items}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let receipt: Value = response.json().await.unwrap();
    assert_eq!(receipt["count"], 3);
    assert_eq!(receipt["signals"][2]["area"], "haga");
    assert!(receipt["signals"][2]["gender"].is_null());
    assert!(
        receipt["signals"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["source"] == "police")
    );
    let total: Fingerprint = sql_query("SELECT sum(n)::text AS value FROM signal_cells")
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(total.value, "3");
}

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    field: Option<&'static str>,
    index: Option<usize>,
}

fn json_case(
    name: &'static str,
    path: &str,
    body: Value,
    status: u16,
    field: Option<&'static str>,
) -> Case {
    Case {
        name,
        method: Method::POST,
        path: path.into(),
        content_type: Some("application/json"),
        headers: vec![],
        body: body.to_string().into_bytes(),
        status,
        field,
        index: None,
    }
}

#[actix_web::test]
async fn bad_requests_get_the_right_problem_and_change_nothing() {
    let app = TestApp::spawn().await;
    let school = app.token_for(Role::School, "umea").await;
    let coordinator = app.token_for(Role::Coordinator, "umea").await;
    let admin = app.token_for(Role::Admin, "sverige").await;
    let other_school = app.token_for(Role::School, "umea").await;

    // Some state to protect: a signal, and one of another reporter's.
    assert_eq!(
        post(&app, "/v1/signals", &school, &signal()).await.status(),
        201
    );
    let theirs: Value = post(&app, "/v1/signals", &other_school, &signal())
        .await
        .json()
        .await
        .unwrap();
    let keyed = app
        .authed(Method::POST, "/v1/signals", &school)
        .header("Idempotency-Key", "sync-42")
        .json(&signal())
        .send()
        .await
        .unwrap();
    assert_eq!(keyed.status(), 201);
    // A deactivated arena.
    let deactivated = app
        .authed(Method::PATCH, "/v1/arenas/other", &admin)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(deactivated.status(), 200);

    let s = "/v1/signals";
    let b = "/v1/signals/batch";
    let mut cases = vec![
        json_case(
            "personnummer",
            s,
            with(signal(), json!({"personnummer": "20121212-1212"})),
            422,
            Some("personnummer"),
        ),
        json_case(
            "name",
            s,
            with(signal(), json!({"name": "Kalle"})),
            422,
            Some("name"),
        ),
        json_case(
            "note",
            s,
            with(signal(), json!({"note": "saw him at the station"})),
            422,
            Some("note"),
        ),
        json_case(
            "comment",
            s,
            with(signal(), json!({"comment": "x"})),
            422,
            Some("comment"),
        ),
        json_case(
            "exact age",
            s,
            with(signal(), json!({"age": 14})),
            422,
            Some("age"),
        ),
        json_case(
            "source in the body",
            s,
            with(signal(), json!({"source": "police"})),
            422,
            Some("source"),
        ),
        json_case(
            "record key in the body",
            s,
            with(signal(), json!({"record_key": 5})),
            422,
            Some("record_key"),
        ),
        json_case(
            "area as a number",
            s,
            with(signal(), json!({"area": 17})),
            422,
            Some("area"),
        ),
        json_case(
            "age band as a list",
            s,
            with(signal(), json!({"age_band": ["13-15"]})),
            422,
            Some("age_band"),
        ),
        json_case(
            "category null",
            s,
            with(signal(), json!({"category": null})),
            422,
            Some("category"),
        ),
        json_case(
            "arena null",
            s,
            with(signal(), json!({"arena": null})),
            422,
            Some("arena"),
        ),
        json_case(
            "area missing",
            s,
            without(signal(), "area"),
            422,
            Some("area"),
        ),
        json_case(
            "week as a number",
            s,
            with(signal(), json!({"observed_week": 202647})),
            422,
            Some("observed_week"),
        ),
        json_case(
            "huge number",
            s,
            with(signal(), json!({"area": 1e300})),
            422,
            Some("area"),
        ),
        json_case(
            "unknown age band",
            s,
            with(signal(), json!({"age_band": "11-14"})),
            422,
            Some("age_band"),
        ),
        json_case(
            "unknown category",
            s,
            with(signal(), json!({"category": "jaywalking"})),
            422,
            Some("category"),
        ),
        json_case(
            "unknown arena",
            s,
            with(signal(), json!({"arena": "moon"})),
            422,
            Some("arena"),
        ),
        json_case(
            "deactivated arena",
            s,
            with(signal(), json!({"arena": "other"})),
            422,
            Some("arena"),
        ),
        json_case(
            "a municipality",
            s,
            with(signal(), json!({"area": "umea"})),
            422,
            Some("area"),
        ),
        json_case(
            "a region",
            s,
            with(signal(), json!({"area": "vasterbotten"})),
            422,
            Some("area"),
        ),
        json_case(
            "outside the subtree",
            s,
            with(signal(), json!({"area": "edsberg"})),
            422,
            Some("area"),
        ),
        json_case(
            "unknown area",
            s,
            with(signal(), json!({"area": "atlantis"})),
            422,
            Some("area"),
        ),
        json_case(
            "next week",
            s,
            with(signal(), json!({"observed_week": week(1)})),
            422,
            Some("observed_week"),
        ),
        json_case(
            "tomorrow",
            s,
            with(
                signal(),
                json!({"observed_week": null, "observed_on": today().succ_opt().unwrap().to_string()}),
            ),
            422,
            Some("observed_on"),
        ),
        json_case(
            "past the window",
            s,
            with(signal(), json!({"observed_week": week(-9)})),
            422,
            Some("observed_week"),
        ),
        json_case(
            "2025-W53",
            s,
            with(signal(), json!({"observed_week": "2025-W53"})),
            422,
            Some("observed_week"),
        ),
        json_case(
            "malformed week",
            s,
            with(signal(), json!({"observed_week": "2026-47"})),
            422,
            Some("observed_week"),
        ),
        json_case(
            "impossible date",
            s,
            with(
                signal(),
                json!({"observed_week": null, "observed_on": "2026-13-01"}),
            ),
            422,
            Some("observed_on"),
        ),
        json_case(
            "the first day chrono knows",
            s,
            with(
                signal(),
                json!({"observed_week": null, "observed_on": "-262143-01-01"}),
            ),
            422,
            Some("observed_on"),
        ),
        json_case(
            "Swedish date format",
            s,
            with(
                signal(),
                json!({"observed_week": null, "observed_on": "22/11/2026"}),
            ),
            422,
            Some("observed_on"),
        ),
        json_case(
            "both date and week",
            s,
            with(signal(), json!({"observed_on": today().to_string()})),
            422,
            Some("observed_on"),
        ),
        json_case(
            "neither date nor week",
            s,
            without(signal(), "observed_week"),
            422,
            Some("observed_week"),
        ),
        json_case(
            "NUL in the area",
            s,
            with(signal(), json!({"area": "teg\u{0}"})),
            422,
            Some("area"),
        ),
        json_case(
            "line break in the week",
            s,
            with(signal(), json!({"observed_week": "2026-W47\n"})),
            422,
            Some("observed_week"),
        ),
        json_case(
            "NUL in a key",
            s,
            with(signal(), json!({"are\u{0}a": "teg"})),
            422,
            None,
        ),
        json_case(
            "unknown gender",
            s,
            with(signal(), json!({"gender": "female"})),
            422,
            Some("gender"),
        ),
        json_case(
            "a list instead of an object",
            s,
            json!([signal()]),
            422,
            None,
        ),
        json_case(
            "501 items",
            b,
            json!({"signals": vec![signal(); 501]}),
            422,
            Some("signals"),
        ),
        json_case(
            "an empty batch",
            b,
            json!({"signals": []}),
            422,
            Some("signals"),
        ),
        json_case("a bare list as a batch", b, json!([signal()]), 422, None),
    ];
    cases.push(Case {
        index: Some(1),
        ..json_case(
            "good and bad mixed",
            b,
            json!({"signals": [signal(), with(signal(), json!({"area": "edsberg"})), signal()]}),
            422,
            Some("area"),
        )
    });
    cases.push(Case {
        index: Some(2),
        ..json_case(
            "an unknown field in item 2",
            b,
            json!({"signals": [signal(), signal(), with(signal(), json!({"name": "x"}))]}),
            422,
            Some("name"),
        )
    });
    let raw = |name, content_type, body: &[u8], status| Case {
        name,
        method: Method::POST,
        path: s.into(),
        content_type,
        headers: vec![],
        body: body.to_vec(),
        status,
        field: None,
        index: None,
    };
    cases.push(raw(
        "10 KB body",
        Some("application/json"),
        with(signal(), json!({"area": "x".repeat(10_000)}))
            .to_string()
            .as_bytes(),
        413,
    ));
    cases.push(raw(
        "text/plain",
        Some("text/plain"),
        signal().to_string().as_bytes(),
        415,
    ));
    cases.push(raw(
        "no content type",
        None,
        signal().to_string().as_bytes(),
        415,
    ));
    cases.push(raw(
        "malformed JSON",
        Some("application/json"),
        b"{\"area\": \"teg\",",
        400,
    ));
    cases.push(raw("empty body", Some("application/json"), b"", 400));
    cases.push(raw(
        "invalid UTF-8",
        Some("application/json"),
        b"{\"area\": \"te\xff\xfeg\"}",
        400,
    ));
    cases.push(Case {
        headers: vec![("Idempotency-Key", "sync-42".into())],
        ..json_case(
            "a reused key with another body",
            s,
            with(signal(), json!({"gender": "boy"})),
            409,
            None,
        )
    });
    cases.push(Case {
        headers: vec![("Idempotency-Key", "k".repeat(129))],
        ..json_case(
            "a 129-character key",
            s,
            signal(),
            422,
            Some("Idempotency-Key"),
        )
    });
    cases.push(Case {
        headers: vec![("Idempotency-Key", "nyckel-å".into())],
        ..json_case("a non-ASCII key", s, signal(), 422, Some("Idempotency-Key"))
    });
    let delete = |name, path: String, status| Case {
        name,
        method: Method::DELETE,
        path,
        content_type: None,
        headers: vec![],
        body: vec![],
        status,
        field: None,
        index: None,
    };
    cases.push(delete(
        "retract someone else's",
        format!("/v1/signals/{}", theirs["id"].as_str().unwrap()),
        404,
    ));
    cases.push(delete(
        "retract an unknown id",
        "/v1/signals/00000000-0000-7000-8000-000000000000".into(),
        404,
    ));
    cases.push(delete(
        "retract a malformed id",
        "/v1/signals/not-a-uuid".into(),
        404,
    ));
    cases.push(Case {
        method: Method::GET,
        ..delete(
            "page size over 200",
            "/v1/signals/mine?limit=201".into(),
            422,
        )
    });
    cases.push(Case {
        method: Method::GET,
        ..delete(
            "a forged cursor",
            "/v1/signals/mine?cursor=yesterday".into(),
            422,
        )
    });
    cases.push(Case {
        method: Method::GET,
        ..delete(
            "a cursor before PostgreSQL's calendar",
            "/v1/signals/mine?cursor=-1000000000000000000_00000000-0000-0000-0000-000000000000"
                .into(),
            422,
        )
    });
    assert!(cases.len() >= 40, "{} cases", cases.len());

    let before = fingerprint(&app);
    for case in cases {
        let mut request = app
            .authed(case.method.clone(), &case.path, &school)
            .body(case.body.clone());
        if let Some(content_type) = case.content_type {
            request = request.header("content-type", content_type);
        }
        for (name, value) in &case.headers {
            request = request.header(*name, value.as_str());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), case.status, "{}", case.name);
        let problem = assert_problem(response, case.status).await;
        if let Some(field) = case.field {
            let errors = problem["errors"]
                .as_array()
                .unwrap_or_else(|| panic!("{}: no errors in {problem}", case.name));
            assert!(
                errors.iter().any(|e| e["field"] == field
                    && (case.index.is_none() || e["index"] == case.index.unwrap())),
                "{}: expected field {field} (index {:?}) in {problem}",
                case.name,
                case.index
            );
        }
        assert_eq!(
            fingerprint(&app),
            before,
            "{} changed the stored signals or cells",
            case.name
        );
    }

    // Others may not submit at all; nothing changes either.
    assert_problem(post(&app, s, &coordinator, &signal()).await, 403).await;
    assert_problem(
        app.client
            .post(app.url(s))
            .json(&signal())
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    assert_eq!(fingerprint(&app), before);
}

#[actix_web::test]
async fn a_retried_request_with_the_same_key_is_answered_again_and_stored_once() {
    let app = TestApp::spawn().await;
    let school = app.token_for(Role::School, "umea").await;
    let send = || {
        app.authed(Method::POST, "/v1/signals/batch", &school)
            .header("Idempotency-Key", "offline-sync-2026-11-22")
            .json(&json!({"signals": [signal(), signal()]}))
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let before = fingerprint(&app);
    let again = send().await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(
        again.json::<Value>().await.unwrap(),
        first,
        "the original answer"
    );
    assert_eq!(fingerprint(&app), before, "nothing new stored");

    // Five concurrent retries of a new request: one is stored, all get its answer.
    let retries = (0..5).map(|_| {
        app.authed(Method::POST, "/v1/signals", &school)
            .header("Idempotency-Key", "flaky-network")
            .json(&signal())
            .send()
    });
    let answers = futures_util::future::join_all(retries).await;
    let mut bodies = Vec::new();
    for answer in answers {
        let answer = answer.unwrap();
        assert_eq!(answer.status(), 201);
        bodies.push(answer.json::<Value>().await.unwrap());
    }
    assert!(bodies.iter().all(|b| b == &bodies[0]), "{bodies:?}");
    assert_eq!(teg_cell(&app).unwrap().n, 3, "2 from the batch + 1");

    // The key's fingerprint holds the week, not the day: another day of the same week is
    // the same request (it would store the same thing).
    let monday = IsoWeek::of(today()).monday();
    let on = |day: chrono::NaiveDate| {
        with(
            signal(),
            json!({"observed_week": null, "observed_on": day.to_string()}),
        )
    };
    let first = app
        .authed(Method::POST, "/v1/signals", &school)
        .header("Idempotency-Key", "by-day")
        .json(&on(monday))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let same_week = app
        .authed(Method::POST, "/v1/signals", &school)
        .header("Idempotency-Key", "by-day")
        .json(&on(today()))
        .send()
        .await
        .unwrap();
    assert_eq!(same_week.json::<Value>().await.unwrap(), first);

    // The same key from another principal is another key.
    let police = app.token_for(Role::Police, "umea").await;
    let theirs = app
        .authed(Method::POST, "/v1/signals", &police)
        .header("Idempotency-Key", "flaky-network")
        .json(&signal())
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 201);
    assert_ne!(theirs.json::<Value>().await.unwrap()["id"], bodies[0]["id"]);
}

#[actix_web::test]
async fn reporters_page_through_their_own_signals_and_retract_within_the_window() {
    let app = TestApp::spawn().await;
    let school = app.token_for(Role::School, "umea").await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let body = with(signal(), json!({"observed_week": week(-n)}));
        ids.push(
            post(&app, "/v1/signals", &school, &body)
                .await
                .json::<Value>()
                .await
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let page: Value = app.get_json("/v1/signals/mine?limit=2", &school).await;
    let first: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(first, [ids[4].as_str(), ids[3].as_str()], "newest first");
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest: Value = app
        .get_json(
            &format!("/v1/signals/mine?limit=10&cursor={cursor}"),
            &school,
        )
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 3);
    assert!(rest.get("next_cursor").is_none());

    let retract = |id: &str| {
        app.authed(Method::DELETE, &format!("/v1/signals/{id}"), &school)
            .send()
    };
    assert_eq!(retract(&ids[0]).await.unwrap().status(), 204);
    assert_eq!(
        retract(&ids[0]).await.unwrap().status(),
        404,
        "already gone"
    );
    let totals = totals(&app);
    assert_eq!(
        (
            totals.signals,
            totals.counted,
            totals.counted_by_area,
            totals.counted_by_week_area
        ),
        (4, 4, 4, 4),
        "the cells were decremented"
    );
    assert_eq!(
        (
            totals.key_sums,
            totals.key_sums_by_area,
            totals.key_sums_by_week_area
        ),
        (totals.record_keys, totals.record_keys, totals.record_keys)
    );
    assert_eq!(totals.by_source_differing, 0, "the by-source cells too");

    // A signal of 10 weeks ago (filed before the window moved on) can no longer be retracted.
    sql_query("UPDATE signals SET week = week - 70 WHERE id = $1::uuid")
        .bind::<diesel::sql_types::Text, _>(&ids[1])
        .execute(&mut app.db())
        .unwrap();
    assert_problem(retract(&ids[1]).await.unwrap(), 409).await;
}

#[actix_web::test]
async fn the_quota_refuses_with_retry_after_and_counts_batch_items() {
    let app = TestApp::spawn_with(|settings| settings.intake.signal_quota = 3).await;
    let school = app.token_for(Role::School, "umea").await;
    let batch = |n: usize| json!({"signals": vec![signal(); n]});
    assert_eq!(
        post(&app, "/v1/signals/batch", &school, &batch(2))
            .await
            .status(),
        201
    );
    let over = post(&app, "/v1/signals/batch", &school, &batch(2)).await;
    let retry_after: u64 = over.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&retry_after), "{retry_after}");
    assert_problem(over, 429).await;
    assert_eq!(
        post(&app, "/v1/signals", &school, &signal()).await.status(),
        201,
        "the third still fits"
    );
    assert_problem(post(&app, "/v1/signals", &school, &signal()).await, 429).await;
    let police = app.token_for(Role::Police, "umea").await;
    assert_eq!(
        post(&app, "/v1/signals", &police, &signal()).await.status(),
        201,
        "quotas are per principal"
    );
    let too_big = post(&app, "/v1/signals/batch", &police, &batch(4)).await;
    assert_eq!(
        assert_problem(too_big, 422).await["errors"][0]["code"],
        "over_quota",
        "a batch that can never fit is not a 429"
    );
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Totals {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    signals: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    counted: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    record_keys: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    key_sums: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    counted_by_area: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    key_sums_by_area: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    counted_by_week_area: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    key_sums_by_week_area: i64,
    /// Rows of `signal_cells_by_week_area_source` that differ from `signal_cells`
    /// summed per week, district and source (either way).
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    by_source_differing: i64,
}

/// Signals stored, the sum of all cells' `n`, and both sides of the key sums, in both
/// cell tables.
fn totals(app: &TestApp) -> Totals {
    sql_query(
        "SELECT (SELECT count(*) FROM signals) AS signals,
                (SELECT coalesce(sum(n), 0)::bigint FROM signal_cells) AS counted,
                (SELECT coalesce(sum(derived_record_key(s.submitted_by, s.week, s.area_id, s.age_band_id, s.category_id, s.arena_id, s.gender, s.source, s.ordinal)), 0)::bigint FROM signals s) AS record_keys,
                (SELECT coalesce(sum(key_sum), 0)::bigint FROM signal_cells) AS key_sums,
                (SELECT coalesce(sum(n), 0)::bigint FROM signal_cells_by_area) AS counted_by_area,
                (SELECT coalesce(sum(key_sum), 0)::bigint FROM signal_cells_by_area) AS key_sums_by_area,
                (SELECT coalesce(sum(n), 0)::bigint FROM signal_cells_by_week_area) AS counted_by_week_area,
                (SELECT coalesce(sum(key_sum), 0)::bigint FROM signal_cells_by_week_area) AS key_sums_by_week_area,
                (SELECT count(*) FROM (
                    (SELECT week, area_id, source, sum(n)::bigint, sum(key_sum)::bigint FROM signal_cells GROUP BY 1, 2, 3
                     EXCEPT SELECT week, area_id, source, n, key_sum FROM signal_cells_by_week_area_source)
                    UNION ALL
                    (SELECT week, area_id, source, n, key_sum FROM signal_cells_by_week_area_source
                     EXCEPT SELECT week, area_id, source, sum(n)::bigint, sum(key_sum)::bigint FROM signal_cells GROUP BY 1, 2, 3)
                 ) d) AS by_source_differing",
    )
    .get_result(&mut app.db())
    .unwrap()
}

#[actix_web::test]
async fn concurrent_single_signals_are_each_stored_and_counted_exactly_once() {
    // Two committers for 150 simultaneous submissions: they are stored in shared groups.
    let app = TestApp::spawn_with(|settings| settings.intake.committers = 2).await;
    let mut tokens = Vec::new();
    for role in [
        Role::School,
        Role::FieldWorker,
        Role::Police,
        Role::SocialServices,
        Role::Leisure,
    ] {
        tokens.push(app.token_for(role, "umea").await);
    }
    let body = signal();
    let submissions = tokens
        .iter()
        .flat_map(|token| (0..30).map(|_| post(&app, "/v1/signals", token, &body)));
    let mut ids = std::collections::BTreeSet::new();
    for response in futures_util::future::join_all(submissions).await {
        assert_eq!(response.status(), 201);
        let stored: Value = response.json().await.unwrap();
        assert!(
            ids.insert(stored["id"].as_str().unwrap().to_owned()),
            "ids are unique"
        );
    }
    let totals = totals(&app);
    assert_eq!(ids.len(), 150);
    assert_eq!(
        totals.signals, 150,
        "every acknowledged signal is stored, once"
    );
    assert_eq!(totals.counted, 150, "and counted once in its cell");
    assert_eq!(totals.key_sums, totals.record_keys);
    assert_eq!(
        (totals.counted_by_area, totals.key_sums_by_area),
        (150, totals.key_sums)
    );
    assert_eq!(
        (totals.counted_by_week_area, totals.key_sums_by_week_area),
        (150, totals.key_sums)
    );
    assert_eq!(totals.by_source_differing, 0);
    let metrics = app.metrics().await.text().await.unwrap();
    let metric = |name: &str| -> f64 {
        let line = metrics.lines().find(|l| l.starts_with(name)).unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(metric("lagesbild_intake_group_size_sum"), 150.0);
    assert!(
        metric("lagesbild_intake_group_size_count") < 150.0,
        "some statements stored several signals"
    );
}

#[actix_web::test]
async fn concurrent_signals_of_one_reporter_stop_exactly_at_the_quota() {
    let app = TestApp::spawn_with(|settings| settings.intake.signal_quota = 7).await;
    let school = app.token_for(Role::School, "umea").await;
    let body = signal();
    let answers =
        futures_util::future::join_all((0..20).map(|_| post(&app, "/v1/signals", &school, &body)))
            .await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        7,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        13,
        "{statuses:?}"
    );
    assert!(
        answers
            .iter()
            .filter(|r| r.status() == 429)
            .all(|r| r.headers().contains_key("retry-after"))
    );
    let totals = totals(&app);
    assert_eq!((totals.signals, totals.counted), (7, 7));
}

#[actix_web::test]
async fn purging_removes_old_records_and_keeps_the_cells() {
    let app = TestApp::spawn().await;
    let school = app.token_for(Role::School, "umea").await;
    for _ in 0..3 {
        post(&app, "/v1/signals", &school, &signal()).await;
    }
    // Two of them age past the 13-week retention period.
    sql_query("UPDATE signals SET week = week - 7 * 14 WHERE id IN (SELECT id FROM signals ORDER BY id LIMIT 2)").execute(&mut app.db()).unwrap();
    let cells_before: Fingerprint =
        sql_query("SELECT string_agg(c::text, '|') AS value FROM signal_cells c")
            .get_result(&mut app.db())
            .unwrap();

    let settings = crate::helpers::test_settings(&app.database_url);
    let report = lagesbild::services::retention::purge(&mut app.db(), &settings.intake).unwrap();
    assert_eq!(report.signals, 2);

    let cutoff = lagesbild::services::retention::cutoff(today(), 13);
    let old: Fingerprint = sql_query("SELECT count(*)::text AS value FROM signals WHERE week < $1")
        .bind::<diesel::sql_types::Date, _>(cutoff)
        .get_result(&mut app.db())
        .unwrap();
    assert_eq!(old.value, "0", "nothing record-level older than the period");
    let cells_after: Fingerprint =
        sql_query("SELECT string_agg(c::text, '|') AS value FROM signal_cells c")
            .get_result(&mut app.db())
            .unwrap();
    assert_eq!(cells_after, cells_before, "trends survive");
    let mine: Value = app.get_json("/v1/signals/mine", &school).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn vocabularies_have_swedish_and_english_labels_and_deactivated_codes_keep_old_data() {
    let app = TestApp::spawn().await;
    let school = app.token_for(Role::School, "umea").await;
    let categories: Value = app.get_json("/v1/categories", &school).await;
    let categories = categories.as_array().unwrap();
    assert_eq!(categories.len(), 13);
    let digital = categories
        .iter()
        .find(|c| c["code"] == "digital_recruitment")
        .unwrap();
    assert_eq!(digital["label_sv"], "Digital rekrytering");
    assert!(
        digital["description_en"]
            .as_str()
            .unwrap()
            .contains("social media")
    );
    let bands: Value = app.get_json("/v1/age-bands", &school).await;
    let codes: Vec<&str> = bands
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["0-9", "10-12", "13-15", "16-17", "18-20"]);
    let arenas: Value = app.get_json("/v1/arenas", &school).await;
    assert_eq!(arenas.as_array().unwrap().len(), 10);

    let stored: Value = post(&app, "/v1/signals", &school, &signal())
        .await
        .json()
        .await
        .unwrap();
    let admin = app.token_for(Role::Admin, "sverige").await;
    let off = app
        .authed(Method::PATCH, "/v1/categories/digital_recruitment", &admin)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(off.json::<Value>().await.unwrap()["active"], false);
    assert_problem(post(&app, "/v1/signals", &school, &signal()).await, 422).await;
    let mine: Value = app.get_json("/v1/signals/mine", &school).await;
    assert_eq!(
        mine["items"][0]["id"], stored["id"],
        "old data keeps the deactivated code"
    );
    assert_eq!(mine["items"][0]["category"], "digital_recruitment");

    let created = app.authed(Method::POST, "/v1/categories", &admin)
        .json(&json!({"code": "online_fraud", "label_sv": "Bedrägerier", "label_en": "Fraud", "description_sv": "x", "description_en": "y"}))
        .send().await.unwrap();
    assert_eq!(created.status(), 201);
    let taken = app
        .authed(Method::POST, "/v1/categories", &admin)
        .json(&json!({"code": "online_fraud", "label_sv": "B", "label_en": "F"}))
        .send()
        .await
        .unwrap();
    assert_problem(taken, 409).await;
    let page: Value = app
        .get_json("/v1/audit-events?action=vocabulary.update", &admin)
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn demo_data_is_stored_exactly_like_intake_and_plants_a_rise() {
    let app = TestApp::spawn().await;
    let report =
        lagesbild::services::demo::generate(&mut app.db(), today(), 20, 7, |_, _| {}).unwrap();
    assert_eq!(report.weeks, 20);
    assert!(report.signals > 1000, "{report:?}");
    #[derive(QueryableByName)]
    struct Check {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        cells_match: bool,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        recent: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        earlier: i64,
    }
    let check: Check = sql_query(
        "SELECT (SELECT sum(n) FROM signal_cells) = (SELECT count(*) FROM signals)
            AND (SELECT sum(key_sum) FROM signal_cells) = (SELECT sum(derived_record_key(s.submitted_by, s.week, s.area_id, s.age_band_id, s.category_id, s.arena_id, s.gender, s.source, s.ordinal)) FROM signals s) AS cells_match,
                (SELECT coalesce(sum(n), 0)::bigint FROM signal_cells c JOIN areas a ON a.id = c.area_id
                  WHERE a.code = 'ostra-ersboda' AND c.week > (SELECT max(week) FROM signal_cells) - 35) AS recent,
                (SELECT coalesce(sum(n), 0)::bigint FROM signal_cells c JOIN areas a ON a.id = c.area_id
                  WHERE a.code = 'ostra-ersboda' AND c.week <= (SELECT max(week) FROM signal_cells) - 70
                    AND c.week > (SELECT max(week) FROM signal_cells) - 105) AS earlier",
    )
    .get_result(&mut app.db())
    .unwrap();
    assert!(check.cells_match, "every cell is the sum of its signals");
    assert!(
        check.recent > check.earlier * 3 / 2,
        "the planted rise: {} vs {}",
        check.recent,
        check.earlier
    );

    // The command refuses to mix synthetic signals into a database that has any.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lagesbild"))
        .args(["demo-data", "--weeks", "1"])
        .env("DATABASE_URL", &app.database_url)
        .env("LAGESBILD_LOG", "error")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("already holds signals"),
        "{output:?}"
    );
}

#[actix_web::test]
async fn what_clients_type_into_keys_and_usernames_is_stored_only_as_keyed_digests() {
    let app = TestApp::spawn().await;
    let school = app.token_for(Role::School, "umea").await;
    // Someone puts personal data where it does not belong: into an Idempotency-Key…
    let key = "Anna Svensson 19121212-1212 070-1234567";
    for _ in 0..2 {
        let keyed = app
            .authed(Method::POST, "/v1/signals", &school)
            .header("Idempotency-Key", key)
            .json(&signal())
            .send()
            .await
            .unwrap();
        assert_eq!(
            keyed.status(),
            201,
            "the retry is still answered as the first"
        );
    }
    // …and a password into the username field of the login form.
    let typed = "hemligt-Lösenord-19121212";
    assert_eq!(app.login_response(typed, "whatever").await.status(), 401);

    #[derive(QueryableByName)]
    struct Stored {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    let stored: Vec<Stored> = sql_query(
        "SELECT key AS value FROM idempotency_keys UNION ALL SELECT key FROM login_throttle",
    )
    .load(&mut app.db())
    .unwrap();
    assert!(
        stored.len() >= 2,
        "a key and a throttle counter are stored: {}",
        stored.len()
    );
    for Stored { value } in &stored {
        assert!(
            value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()),
            "stored as a digest: {value}"
        );
        for secret in ["Anna", "1212", "070", "hemligt", "ip:"] {
            assert!(!value.contains(secret), "{value} holds {secret}");
        }
    }
    let signals: i64 = sql_query("SELECT count(*)::text AS value FROM signals")
        .get_result::<Stored>(&mut app.db())
        .unwrap()
        .value
        .parse()
        .unwrap();
    assert_eq!(signals, 1, "the keyed retry stored nothing twice");
}
