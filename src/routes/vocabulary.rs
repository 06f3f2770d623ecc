//! Age bands, categories and arenas: read by everyone, edited by admins of the tree's
//! root. The work is `services::vocabulary`; one macro writes the three resources'
//! handlers.

use actix_web::{HttpResponse, get, patch, post, web};

use crate::auth::permissions::perm;
use crate::auth::principal::RequestMeta;
use crate::db::queries::vocabulary::VocabularyKind;
use crate::error::{ApiError, Problem};
use crate::http::caller::{Authorized, VocabularyAdmin};
use crate::http::json::Json;
use crate::services::vocabulary::{
    self, CreateAgeBand, CreateArena, CreateCategory, TermView, UpdateCategory, UpdateTerm,
};
use crate::state::AppState;

macro_rules! vocabulary_routes {
    (
        $kind:expr, $path:literal, $item:literal, $tag:literal, $what:literal,
        $list:ident, $create:ident, $update:ident, $create_body:ty, $update_body:ty
    ) => {
        /// Lists the codes of one vocabulary.
        #[utoipa::path(
            operation_id = stringify!($list),
            summary = concat!("Lists ", $what),
            description = concat!("All ", $what, ", active and deactivated, with Swedish and English labels."),
            tag = $tag,
            security(("bearer" = [])),
            responses(
                (status = 200, description = "The codes", body = [TermView]),
                (status = 403, description = "Needs `reference:read`", body = Problem, content_type = "application/problem+json"),
            ),
        )]
        #[get($path)]
        pub async fn $list(
            state: web::Data<AppState>,
            _caller: Authorized<perm::ReferenceRead>,
        ) -> Result<web::Json<Vec<TermView>>, ApiError> {
            Ok(web::Json(vocabulary::list(&state, $kind).await?))
        }

        /// Adds a code to one vocabulary.
        #[utoipa::path(
            operation_id = stringify!($create),
            summary = concat!("Adds a code to ", $what),
            description = concat!("Adds a code to ", $what, " (admins of the root area: the vocabulary is shared by every area)."),
            tag = $tag,
            security(("bearer" = [])),
            request_body = $create_body,
            responses(
                (status = 201, description = "Created", body = TermView),
                (status = 403, description = "Needs `reference:write` and an area that is the root of the tree (the whole service)", body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "The code exists", body = Problem, content_type = "application/problem+json"),
            ),
        )]
        #[post($path)]
        pub async fn $create(
            state: web::Data<AppState>,
            meta: RequestMeta,
            admin: VocabularyAdmin,
            body: Json<$create_body>,
        ) -> Result<HttpResponse, ApiError> {
            let created = vocabulary::create(&state, &admin, $kind, body.0.into(), meta).await?;
            Ok(HttpResponse::Created().json(created))
        }

        /// Changes a code of one vocabulary.
        #[utoipa::path(
            operation_id = stringify!($update),
            summary = concat!("Changes a code of ", $what),
            description = concat!("Relabels, deactivates or reactivates a code of ", $what, " (admins of the root area)."),
            tag = $tag,
            security(("bearer" = [])),
            params(("code" = String, Path, description = "The code")),
            request_body = $update_body,
            responses(
                (status = 200, description = "Updated", body = TermView),
                (status = 403, description = "Needs `reference:write` and an area that is the root of the tree (the whole service)", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such code", body = Problem, content_type = "application/problem+json"),
            ),
        )]
        #[patch($item)]
        pub async fn $update(
            state: web::Data<AppState>,
            meta: RequestMeta,
            admin: VocabularyAdmin,
            code: web::Path<String>,
            body: Json<$update_body>,
        ) -> Result<web::Json<TermView>, ApiError> {
            let (code, change) = (code.into_inner(), body.0.into());
            Ok(web::Json(
                vocabulary::update(&state, &admin, $kind, code, change, meta).await?,
            ))
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
    update_age_band,
    CreateAgeBand,
    UpdateTerm
);
vocabulary_routes!(
    VocabularyKind::Category,
    "/v1/categories",
    "/v1/categories/{code}",
    "reference",
    "the categories",
    list_categories,
    create_category,
    update_category,
    CreateCategory,
    UpdateCategory
);
vocabulary_routes!(
    VocabularyKind::Arena,
    "/v1/arenas",
    "/v1/arenas/{code}",
    "reference",
    "the arenas",
    list_arenas,
    create_arena,
    update_arena,
    CreateArena,
    UpdateTerm
);
