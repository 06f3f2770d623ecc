//! Signal intake: one or many signals from a reporter, checked against the reference
//! data, stored with their cells all-or-nothing, idempotent under retries, within quota.
//!
//! A 201 is answered only after COMMIT: the insert, the cell update, the idempotency
//! record and the audit row commit together or not at all.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};
use diesel::{Connection, PgConnection};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::auth::secrets;
use crate::config::IntakeSettings;
use crate::db::group_commit::Submitted;
use crate::db::queries::signals::{Admit, NewSignal, Quota, Retraction, StoredSignal};
use crate::db::queries::{audit, idempotency, signals};
use crate::db::vocabulary_cache::Reference;
use crate::db::{self};
use crate::domain::identity::Role;
use crate::domain::signal::{CodeNames, Gender, IntakeRules, SignalInput};
use crate::domain::week::IsoWeek;
use crate::error::{ApiError, FieldError};
use crate::services::audit::{Audit, Outcome};
use crate::state::AppState;

pub const MAX_BATCH: usize = 500;

/// A stored signal as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "019a9c3e-5b2f-7c11-9d3e-2f6a1b7c8d90", "week": "2026-W47", "area": "ostra-ersboda",
    "age_band": "13-15", "category": "digital_recruitment", "arena": "social_media", "gender": "girl",
    "source": "school", "created_at": "2026-11-22T09:14:03Z"}))]
pub struct SignalView {
    pub id: Uuid,
    /// ISO week; the day is never stored.
    pub week: String,
    pub area: String,
    pub age_band: String,
    pub category: String,
    pub arena: String,
    pub gender: Option<Gender>,
    /// The reporting role, taken from the credential.
    pub source: Role,
    pub created_at: DateTime<Utc>,
}

impl SignalView {
    pub fn of(row: &StoredSignal, names: &CodeNames) -> Result<Self, ApiError> {
        let name = |map: &HashMap<i32, String>, id: i32| {
            map.get(&id)
                .cloned()
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no code for id {id}")))
        };
        Ok(Self {
            id: row.id,
            week: IsoWeek::from_monday(row.week).map_or_else(String::new, |w| w.to_string()),
            area: name(&names.areas, row.area_id)?,
            age_band: name(&names.age_bands, i32::from(row.age_band_id))?,
            category: name(&names.categories, i32::from(row.category_id))?,
            arena: name(&names.arenas, i32::from(row.arena_id))?,
            gender: Gender::from_db(&row.gender),
            source: row
                .source
                .parse()
                .map_err(|e: String| ApiError::internal(anyhow::anyhow!(e)))?,
            created_at: row.created_at,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"signals": [
    {"area": "teg", "age_band": "16-17", "category": "drug_handling", "arena": "public_place", "observed_week": "2026-W47"},
    {"area": "haga", "age_band": "13-15", "category": "school_disengagement", "arena": "school", "gender": "boy", "observed_on": "2026-11-12"}]}))]
pub struct BatchInput {
    /// 1–500 signals, stored all or nothing.
    #[validate(length(min = 1, max = 500), nested)]
    #[schema(min_items = 1, max_items = 500)]
    pub signals: Vec<SignalInput>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"count": 1, "signals": [{"id": "019a9c3e-5b2f-7c11-9d3e-2f6a1b7c8d90", "week": "2026-W47",
    "area": "teg", "age_band": "16-17", "category": "drug_handling", "arena": "public_place", "gender": null,
    "source": "police", "created_at": "2026-11-22T09:14:03Z"}]}))]
pub struct BatchReceipt {
    pub count: usize,
    pub signals: Vec<SignalView>,
}

/// The answer to a submission: status and JSON body (replayed verbatim for a retry).
pub struct Answer {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

/// "Today" in the municipality's time zone: a signal sent at 00:30 on a Monday in
/// Stockholm belongs to the new week even though it is still Sunday in UTC.
pub fn today(settings: &IntakeSettings) -> chrono::NaiveDate {
    Utc::now().with_timezone(&settings.time_zone).date_naive()
}

/// The fingerprint of a request, for `Idempotency-Key`. A day is replaced by its ISO week
/// first: the day is never stored, not even inside a hash that could be brute-forced
/// over the small space of possible signals.
fn request_hash(endpoint: &str, inputs: &[SignalInput]) -> Result<Vec<u8>, ApiError> {
    let weeks_only: Vec<SignalInput> = inputs
        .iter()
        .map(|input| match input.observed_on {
            Some(day) => SignalInput {
                observed_on: None,
                observed_week: Some(IsoWeek::of(day).to_string()),
                ..input.clone()
            },
            None => input.clone(),
        })
        .collect();
    let canonical = serde_json::to_vec(&weeks_only).map_err(ApiError::internal)?;
    let mut hasher = Sha256::new();
    hasher.update(endpoint.as_bytes());
    hasher.update([0]);
    hasher.update(&canonical);
    Ok(hasher.finalize().to_vec())
}

/// Who submits: the credential's user, the area they may report for, and their role.
struct Submitter {
    user: Uuid,
    scope: String,
    source: Role,
}

/// The quota every principal's submissions are held to.
pub fn quota(settings: &IntakeSettings) -> Quota {
    Quota {
        limit: settings.signal_quota,
        window_secs: settings.signal_quota_window_secs,
    }
}

/// Submits one signal (`batch: false`) or a batch, for `principal`.
pub async fn submit(
    state: &AppState,
    principal: &Principal,
    inputs: Vec<SignalInput>,
    batch: bool,
    key: Option<String>,
    meta: RequestMeta,
) -> Result<Answer, ApiError> {
    let settings = state.settings.intake.clone();
    let today = today(&settings);
    let submitter = Submitter {
        user: principal.user.id,
        scope: principal.area.path.clone(),
        source: principal.role,
    };
    if key.is_none() && !batch {
        // The common case, an app sending one signal, is stored by group commit.
        let reference = state.vocabulary.current(&state.pool).await?;
        let signal = prepare(&reference, &settings, today, &submitter, &inputs, false)?
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no signal to submit")))?;
        return match state.committer.submit(signal).await? {
            Submitted::Stored(row) => Ok(Answer {
                status: StatusCode::CREATED,
                body: serde_json::to_value(SignalView::of(&row, &reference.names)?)
                    .map_err(ApiError::internal)?,
            }),
            Submitted::OverQuota { retry_after_secs } => Err(ApiError::TooManyRequests {
                retry_after: std::time::Duration::from_secs(retry_after_secs),
            }),
        };
    }
    let endpoint = if batch { "batch" } else { "single" };
    // Only requests with a key are fingerprinted: no hashing on the common path.
    let hash = key
        .as_ref()
        .map(|_| request_hash(endpoint, &inputs))
        .transpose()?
        .unwrap_or_default();
    // Stored only as a keyed digest: a client may have put anything into its key.
    let secret = state.jwt.derived_secret("idempotency key");
    let key = key.map(|key| secrets::keyed_digest(&secret, key.as_bytes()));
    let audit_row = Audit::new("signals.batch", Outcome::Success, &meta).by(principal);
    let cache = std::sync::Arc::clone(&state.vocabulary);
    db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            if let Some(key) = &key {
                match idempotency::claim(conn, submitter.user, key, &hash, Utc::now())? {
                    idempotency::Claim::New => {}
                    idempotency::Claim::Replay { status, body } => {
                        return Ok(Answer {
                            status: StatusCode::from_u16(status).map_err(ApiError::internal)?,
                            body,
                        });
                    }
                    idempotency::Claim::Mismatch => {
                        return Err(ApiError::Conflict(
                            "this Idempotency-Key was already used for a different request".into(),
                        ));
                    }
                }
            }
            let reference = cache.get(conn)?;
            let answer = store(
                conn, &reference, &settings, today, &submitter, &inputs, batch, &audit_row,
            )?;
            if let Some(key) = &key {
                idempotency::complete(
                    conn,
                    submitter.user,
                    key,
                    answer.status.as_u16(),
                    &answer.body,
                )?;
            }
            Ok(answer)
        })
    })
    .await
}

/// Checks every input and gives each valid one its id; any invalid one
/// fails the whole submission, with errors by index for a batch.
fn prepare(
    reference: &Reference,
    settings: &IntakeSettings,
    today: chrono::NaiveDate,
    submitter: &Submitter,
    inputs: &[SignalInput],
    batch: bool,
) -> Result<Vec<NewSignal>, ApiError> {
    let rules = IntakeRules {
        today,
        correction_window_weeks: settings.correction_window_weeks,
        scope_path: &submitter.scope,
    };
    let mut errors: Vec<FieldError> = Vec::new();
    let mut new = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.iter().enumerate() {
        match input.check(&reference.vocabulary, &rules) {
            Ok(signal) => new.push(NewSignal {
                id: Uuid::now_v7(),
                signal,
                submitted_by: submitter.user,
                source: submitter.source,
            }),
            Err(found) => errors.extend(found.into_iter().map(|mut e| {
                e.index = batch.then_some(index);
                e
            })),
        }
    }
    if errors.is_empty() {
        Ok(new)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Stores a batch, or a single signal sent with an `Idempotency-Key`, inside the
/// caller's transaction.
#[allow(clippy::too_many_arguments)]
fn store(
    conn: &mut PgConnection,
    reference: &Reference,
    settings: &IntakeSettings,
    today: chrono::NaiveDate,
    submitter: &Submitter,
    inputs: &[SignalInput],
    batch: bool,
    audit_row: &Audit,
) -> Result<Answer, ApiError> {
    let new = prepare(reference, settings, today, submitter, inputs, batch)?;
    let quota = quota(settings);
    if new.len() > quota.limit as usize {
        return Err(ApiError::invalid(
            "signals",
            "over_quota",
            format!(
                "{} signals exceed the quota of {} per window; send smaller batches",
                new.len(),
                quota.limit
            ),
        ));
    }
    let stored = signals::insert(conn, quota, Admit::AllOrNone, &new)?;
    if stored.len() < new.len() {
        return Err(ApiError::TooManyRequests {
            retry_after: std::time::Duration::from_secs(quota.retry_after_secs()),
        });
    }
    let names = &reference.names;
    let by_id: HashMap<Uuid, &StoredSignal> = stored.iter().map(|s| (s.id, s)).collect();
    let views = new
        .iter()
        .map(|n| {
            by_id
                .get(&n.id)
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("stored signal missing")))
                .and_then(|s| SignalView::of(s, names))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if batch {
        let ids: Vec<Uuid> = views.iter().map(|v| v.id).collect();
        audit::record(
            conn,
            audit_row
                .clone()
                .details(serde_json::json!({"count": ids.len(), "ids": ids}))
                .row(),
        )?;
        let body = serde_json::to_value(BatchReceipt {
            count: views.len(),
            signals: views,
        })
        .map_err(ApiError::internal)?;
        return Ok(Answer {
            status: StatusCode::CREATED,
            body,
        });
    }
    let view = views
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("nothing stored")))?;
    Ok(Answer {
        status: StatusCode::CREATED,
        body: serde_json::to_value(view).map_err(ApiError::internal)?,
    })
}
/// Up to `limit` of `reporter`'s own signals, newest first, after the cursor
/// `(created_at, id)` (record-level rows exist only within the retention period).
pub async fn mine(
    state: &AppState,
    reporter: &Principal,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<SignalView>, ApiError> {
    let (user, cache) = (reporter.user.id, std::sync::Arc::clone(&state.vocabulary));
    let (rows, reference) = db::run(&state.pool, move |conn| {
        Ok((signals::mine(conn, user, after, limit)?, cache.get(conn)?))
    })
    .await?;
    rows.iter()
        .map(|row| SignalView::of(row, &reference.names))
        .collect()
}

/// Retracts one of `reporter`'s signals whose week is within the correction window; its
/// cells are decremented. Someone else's or an unknown signal: 404; too old: 409.
pub async fn retract(
    state: &AppState,
    reporter: &Principal,
    id: Uuid,
    meta: RequestMeta,
) -> Result<(), ApiError> {
    let settings = &state.settings.intake;
    let oldest = IsoWeek::of(today(settings))
        .plus_weeks(-i64::from(settings.correction_window_weeks))
        .monday();
    let user = reporter.user.id;
    let audit = Audit::new("signals.retract", Outcome::Success, &meta)
        .by(reporter)
        .target("signal", id);
    let outcome = db::run(&state.pool, move |conn| {
        use diesel::Connection;
        conn.transaction(|conn| {
            let outcome = signals::retract(conn, id, user, oldest)?;
            if matches!(outcome, Retraction::Retracted) {
                audit::record(conn, audit.row())?;
            }
            Ok(outcome)
        })
    })
    .await?;
    match outcome {
        Retraction::Retracted => Ok(()),
        Retraction::NotFound => Err(ApiError::NotFound),
        Retraction::OutsideWindow => Err(ApiError::Conflict(format!(
            "this signal is older than the correction window of {} weeks",
            settings.correction_window_weeks
        ))),
    }
}
