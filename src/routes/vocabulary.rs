//! Age bands, categories and arenas: read by everyone, edited by admins. Codes are never
//! deleted; a deactivated code is refused for new signals and kept for old ones.

use actix_web::{HttpResponse, get, patch, post, web};
use diesel::Connection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::audit::{Audit, Outcome};
use crate::auth::extract::RequestMeta;
use crate::auth::permissions::perm;
use crate::auth::{Authorized, Principal};
use crate::db::queries::vocabulary::{NewTerm, Term, TermChange, VocabularyKind};
use crate::db::{self, queries};
use crate::error::{ApiError, Problem};
use crate::extract::{Json, no_control_chars};
use crate::startup::AppState;

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

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "online_fraud", "label_sv": "Bedrägerier på nätet", "label_en": "Online fraud",
    "description_sv": "Används som målvakt eller för bedrägerier.", "description_en": "Used as a money mule or for fraud."}))]
pub struct CreateTerm {
    #[validate(length(min = 1, max = 64))]
    pub code: String,
    #[validate(length(min = 1, max = 100), custom(function = "no_control_chars"))]
    pub label_sv: String,
    #[validate(length(min = 1, max = 100), custom(function = "no_control_chars"))]
    pub label_en: String,
    /// Categories only.
    #[validate(length(max = 500), custom(function = "no_control_chars"))]
    pub description_sv: Option<String>,
    /// Categories only.
    #[validate(length(max = 500), custom(function = "no_control_chars"))]
    pub description_en: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"active": false}))]
pub struct UpdateTerm {
    #[validate(length(min = 1, max = 100), custom(function = "no_control_chars"))]
    pub label_sv: Option<String>,
    #[validate(length(min = 1, max = 100), custom(function = "no_control_chars"))]
    pub label_en: Option<String>,
    #[validate(length(max = 500), custom(function = "no_control_chars"))]
    pub description_sv: Option<String>,
    #[validate(length(max = 500), custom(function = "no_control_chars"))]
    pub description_en: Option<String>,
    /// `false` deactivates: refused for new signals, kept for old ones.
    pub active: Option<bool>,
}

async fn list_terms(
    state: &AppState,
    kind: VocabularyKind,
) -> Result<web::Json<Vec<TermView>>, ApiError> {
    let terms = db::run(&state.pool, move |conn| {
        queries::vocabulary::list(conn, kind)
    })
    .await?;
    Ok(web::Json(terms.into_iter().map(TermView::from).collect()))
}

fn descriptions_allowed(
    kind: VocabularyKind,
    sv: &Option<String>,
    en: &Option<String>,
) -> Result<(), ApiError> {
    if kind != VocabularyKind::Category && (sv.is_some() || en.is_some()) {
        return Err(ApiError::invalid(
            "description_sv",
            "not_allowed",
            "only categories have descriptions",
        ));
    }
    Ok(())
}

async fn create_term(
    state: &AppState,
    meta: RequestMeta,
    admin: &Principal,
    kind: VocabularyKind,
    term: CreateTerm,
) -> Result<HttpResponse, ApiError> {
    if !kind.valid_code(&term.code) {
        return Err(ApiError::invalid(
            "code",
            "invalid",
            format!("`{}` is not a valid code for {}", term.code, kind.table()),
        ));
    }
    descriptions_allowed(kind, &term.description_sv, &term.description_en)?;
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
    Ok(HttpResponse::Created().json(TermView::from(created)))
}

async fn update_term(
    state: &AppState,
    meta: RequestMeta,
    admin: &Principal,
    kind: VocabularyKind,
    code: String,
    change: UpdateTerm,
) -> Result<web::Json<TermView>, ApiError> {
    descriptions_allowed(kind, &change.description_sv, &change.description_en)?;
    let details = serde_json::json!({"relabelled": change.label_sv.is_some() || change.label_en.is_some(), "active": change.active});
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
    Ok(web::Json(updated.into()))
}

macro_rules! vocabulary_routes {
    ($kind:expr, $path:literal, $item:literal, $tag:literal, $what:literal, $list:ident, $create:ident, $update:ident) => {
        #[doc = concat!("All ", $what, ", active and deactivated, with Swedish and English labels.")]
        #[utoipa::path(
            tag = $tag,
            security(("bearer" = [])),
            responses(
                (status = 200, description = "The codes", body = [TermView]),
                (status = 403, description = "Needs `reference:read`", body = Problem, content_type = "application/problem+json"),
            ),
        )]
        #[get($path)]
        pub async fn $list(state: web::Data<AppState>, _caller: Authorized<perm::ReferenceRead>) -> Result<web::Json<Vec<TermView>>, ApiError> {
            list_terms(&state, $kind).await
        }

        #[doc = concat!("Adds a code to ", $what, " (admins).")]
        #[utoipa::path(
            tag = $tag,
            security(("bearer" = [])),
            request_body = CreateTerm,
            responses(
                (status = 201, description = "Created", body = TermView),
                (status = 403, description = "Needs `reference:write`", body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "The code exists", body = Problem, content_type = "application/problem+json"),
            ),
        )]
        #[post($path)]
        pub async fn $create(
            state: web::Data<AppState>,
            meta: RequestMeta,
            admin: Authorized<perm::ReferenceWrite>,
            body: Json<CreateTerm>,
        ) -> Result<HttpResponse, ApiError> {
            create_term(&state, meta, &admin, $kind, body.0).await
        }

        #[doc = concat!("Relabels, deactivates or reactivates a code of ", $what, " (admins).")]
        #[utoipa::path(
            tag = $tag,
            security(("bearer" = [])),
            params(("code" = String, Path, description = "The code")),
            request_body = UpdateTerm,
            responses(
                (status = 200, description = "Updated", body = TermView),
                (status = 403, description = "Needs `reference:write`", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such code", body = Problem, content_type = "application/problem+json"),
            ),
        )]
        #[patch($item)]
        pub async fn $update(
            state: web::Data<AppState>,
            meta: RequestMeta,
            admin: Authorized<perm::ReferenceWrite>,
            code: web::Path<String>,
            body: Json<UpdateTerm>,
        ) -> Result<web::Json<TermView>, ApiError> {
            update_term(&state, meta, &admin, $kind, code.into_inner(), body.0).await
        }
    };
}

vocabulary_routes!(
    VocabularyKind::AgeBand,
    "/v1/age-bands",
    "/v1/age-bands/{code}",
    "reference",
    "the age bands",
    list_age_bands,
    create_age_band,
    update_age_band
);
vocabulary_routes!(
    VocabularyKind::Category,
    "/v1/categories",
    "/v1/categories/{code}",
    "reference",
    "the categories",
    list_categories,
    create_category,
    update_category
);
vocabulary_routes!(
    VocabularyKind::Arena,
    "/v1/arenas",
    "/v1/arenas/{code}",
    "reference",
    "the arenas",
    list_arenas,
    create_arena,
    update_arena
);
