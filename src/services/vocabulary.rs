//! Age bands, categories and arenas: read by everyone, edited by admins of the tree's root
//! only (every area shares them). Codes are never deleted; a deactivated code is refused
//! for new signals and kept for old ones. Every change is audited, and every admin sees
//! those rows (`queries::audit::list`).

use diesel::Connection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::db::queries::vocabulary::{NewTerm, Term, TermChange, VocabularyKind};
use crate::db::{self, queries};
use crate::domain::rules::free_text;
use crate::error::ApiError;
use crate::services::audit::{Audit, Outcome};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"code": "digital_recruitment", "label_sv": "Digital rekrytering", "label_en": "Digital recruitment",
    "description_sv": "Kontaktad via sociala medier, spel eller krypterade appar.",
    "description_en": "Contacted via social media, games or encrypted chat.", "active": true}))]
pub struct TermView {
    pub code: String,
    pub label_sv: String,
    pub label_en: String,
    /// Categories only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description_sv: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description_en: Option<String>,
    pub active: bool,
}

impl From<Term> for TermView {
    fn from(t: Term) -> Self {
        Self {
            code: t.code,
            label_sv: t.label_sv,
            label_en: t.label_en,
            description_sv: t.description_sv,
            description_en: t.description_en,
            active: t.active,
        }
    }
}

/// A new age band: a code such as `13-15` (two numbers of up to three digits) and labels.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "21-24", "label_sv": "Unga vuxna (21–24)", "label_en": "Young adults (21–24)"}))]
pub struct CreateAgeBand {
    #[validate(custom(function = "age_band_code"))]
    #[schema(pattern = "^[0-9]{1,3}-[0-9]{1,3}$")]
    pub code: String,
    #[validate(length(min = 1, max = 100), custom(function = "free_text"))]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub label_sv: String,
    #[validate(length(min = 1, max = 100), custom(function = "free_text"))]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub label_en: String,
}

/// A new arena: a code such as `online_gaming` (a lower-case letter, then 1–63 lower-case
/// letters, digits or `_`) and labels.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "public_transport", "label_sv": "Kollektivtrafik", "label_en": "Public transport"}))]
pub struct CreateArena {
    #[validate(custom(function = "term_code"))]
    #[schema(pattern = "^[a-z][a-z0-9_]{1,63}$")]
    pub code: String,
    #[validate(length(min = 1, max = 100), custom(function = "free_text"))]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub label_sv: String,
    #[validate(length(min = 1, max = 100), custom(function = "free_text"))]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub label_en: String,
}

/// A new category: a code as for arenas, labels and short descriptions.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "online_fraud", "label_sv": "Bedrägerier på nätet", "label_en": "Online fraud",
    "description_sv": "Används som målvakt eller för bedrägerier.", "description_en": "Used as a money mule or for fraud."}))]
pub struct CreateCategory {
    #[validate(custom(function = "term_code"))]
    #[schema(pattern = "^[a-z][a-z0-9_]{1,63}$")]
    pub code: String,
    #[validate(length(min = 1, max = 100), custom(function = "free_text"))]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub label_sv: String,
    #[validate(length(min = 1, max = 100), custom(function = "free_text"))]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub label_en: String,
    #[validate(length(max = 500), custom(function = "free_text"))]
    #[schema(max_length = 500, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub description_sv: Option<String>,
    #[validate(length(max = 500), custom(function = "free_text"))]
    #[schema(max_length = 500, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub description_en: Option<String>,
}

/// New labels for an age band or arena, or a change of its `active` flag.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"active": false}))]
pub struct UpdateTerm {
    #[validate(length(min = 1, max = 100), custom(function = "free_text"))]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub label_sv: Option<String>,
    #[validate(length(min = 1, max = 100), custom(function = "free_text"))]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub label_en: Option<String>,
    /// `false` deactivates: refused for new signals, kept for old ones.
    pub active: Option<bool>,
}

/// New labels or descriptions for a category, or a change of its `active` flag.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"description_en": "Offered errands or \"quick money\" in person.", "active": true}))]
pub struct UpdateCategory {
    #[validate(length(min = 1, max = 100), custom(function = "free_text"))]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub label_sv: Option<String>,
    #[validate(length(min = 1, max = 100), custom(function = "free_text"))]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub label_en: Option<String>,
    #[validate(length(max = 500), custom(function = "free_text"))]
    #[schema(max_length = 500, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub description_sv: Option<String>,
    #[validate(length(max = 500), custom(function = "free_text"))]
    #[schema(max_length = 500, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub description_en: Option<String>,
    /// `false` deactivates: refused for new signals, kept for old ones.
    pub active: Option<bool>,
}

fn age_band_code(code: &str) -> Result<(), validator::ValidationError> {
    valid_code(VocabularyKind::AgeBand, code)
}

fn term_code(code: &str) -> Result<(), validator::ValidationError> {
    valid_code(VocabularyKind::Category, code)
}

fn valid_code(kind: VocabularyKind, code: &str) -> Result<(), validator::ValidationError> {
    if kind.valid_code(code) {
        return Ok(());
    }
    let mut error = validator::ValidationError::new("invalid");
    error.message = Some(format!("`{code}` is not a valid code for {}", kind.table()).into());
    Err(error)
}

/// A new code of any kind, as stored.
pub struct NewTermInput {
    code: String,
    label_sv: String,
    label_en: String,
    description_sv: Option<String>,
    description_en: Option<String>,
}

impl From<CreateAgeBand> for NewTermInput {
    fn from(t: CreateAgeBand) -> Self {
        Self {
            code: t.code,
            label_sv: t.label_sv,
            label_en: t.label_en,
            description_sv: None,
            description_en: None,
        }
    }
}

impl From<CreateArena> for NewTermInput {
    fn from(t: CreateArena) -> Self {
        Self {
            code: t.code,
            label_sv: t.label_sv,
            label_en: t.label_en,
            description_sv: None,
            description_en: None,
        }
    }
}

impl From<CreateCategory> for NewTermInput {
    fn from(t: CreateCategory) -> Self {
        Self {
            code: t.code,
            label_sv: t.label_sv,
            label_en: t.label_en,
            description_sv: t.description_sv,
            description_en: t.description_en,
        }
    }
}

impl From<UpdateTerm> for UpdateCategory {
    fn from(t: UpdateTerm) -> Self {
        Self {
            label_sv: t.label_sv,
            label_en: t.label_en,
            description_sv: None,
            description_en: None,
            active: t.active,
        }
    }
}

/// Every code of `kind`, active and deactivated.
pub async fn list(state: &AppState, kind: VocabularyKind) -> Result<Vec<TermView>, ApiError> {
    let terms = db::run(&state.pool, move |conn| {
        queries::vocabulary::list(conn, kind)
    })
    .await?;
    Ok(terms.into_iter().map(TermView::from).collect())
}

/// Adds a code of `kind` (codes are never deleted), in the same transaction as its
/// audit row.
pub async fn create(
    state: &AppState,
    admin: &Principal,
    kind: VocabularyKind,
    term: NewTermInput,
    meta: RequestMeta,
) -> Result<TermView, ApiError> {
    admin.require_root_for_vocabulary()?;
    let audit = Audit::new("vocabulary.create", Outcome::Success, &meta)
        .by(admin)
        .target(kind.table(), &term.code);
    let created = db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            let new = NewTerm {
                code: &term.code,
                label_sv: &term.label_sv,
                label_en: &term.label_en,
                description_sv: term.description_sv.as_deref().unwrap_or(""),
                description_en: term.description_en.as_deref().unwrap_or(""),
            };
            let created = queries::vocabulary::insert(conn, kind, &new).map_err(|e| match e {
                ApiError::Conflict(_) => {
                    ApiError::Conflict(format!("the code `{}` exists", term.code))
                }
                other => other,
            })?;
            queries::audit::record(conn, audit.row())?;
            Ok(created)
        })
    })
    .await?;
    state.vocabulary.invalidate();
    Ok(TermView::from(created))
}

/// Relabels, deactivates or reactivates a code of `kind`; a deactivated code is refused
/// for new signals and kept for old ones.
pub async fn update(
    state: &AppState,
    admin: &Principal,
    kind: VocabularyKind,
    code: String,
    change: UpdateCategory,
    meta: RequestMeta,
) -> Result<TermView, ApiError> {
    admin.require_root_for_vocabulary()?;
    let relabelled = change.label_sv.is_some() || change.label_en.is_some();
    let details = serde_json::json!({"relabelled": relabelled, "active": change.active});
    let audit = Audit::new("vocabulary.update", Outcome::Success, &meta)
        .by(admin)
        .target(kind.table(), &code)
        .details(details);
    let updated = db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            let change = TermChange {
                label_sv: change.label_sv.as_deref(),
                label_en: change.label_en.as_deref(),
                description_sv: change.description_sv.as_deref(),
                description_en: change.description_en.as_deref(),
                active: change.active,
            };
            let updated = queries::vocabulary::update(conn, kind, &code, &change)?
                .ok_or(ApiError::NotFound)?;
            queries::audit::record(conn, audit.row())?;
            Ok(updated)
        })
    })
    .await?;
    state.vocabulary.invalidate();
    Ok(updated.into())
}
