//! Administration for admins: the users of their area (create; change role, area or
//! status; set a password) and the API tokens of its service accounts (mint, with the
//! secret shown once; revoke) — the same services as `/v1/users` and `/v1/api-tokens`,
//! so the same rules, step-up and audit.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use uuid::Uuid;
use validator::Validate;

use crate::auth::Permission;
use crate::auth::principal::RequestMeta;
use crate::domain::identity::{AccountKind, Role};
use crate::error::ApiError;
use crate::http::json::field_errors;
use crate::pages::errors::PageError;
use crate::pages::forms::{Choice, FormFields, area_choices};
use crate::pages::i18n::{Lang, Texts};
use crate::pages::labels::Labels;
use crate::pages::layout::{Chrome, form_html};
use crate::pages::present::field_words;
use crate::pages::session::{self, Viewer};
use crate::services::api_tokens::{self, ApiTokenView, CreateApiToken};
use crate::services::users::{self, CreateUser, UpdateUser, UserView};
use crate::state::AppState;

/// Users per page of the list.
const PAGE_SIZE: i64 = 100;

const ROLES: [(Role, &str, &str); 8] = [
    (Role::School, "Skola", "School"),
    (Role::FieldWorker, "Fältarbete", "Field work"),
    (Role::Police, "Polis", "Police"),
    (Role::SocialServices, "Socialtjänst", "Social services"),
    (Role::Leisure, "Fritid", "Leisure"),
    (Role::Coordinator, "Samordnare", "Coordinator"),
    (Role::Analyst, "Analytiker", "Analyst"),
    (Role::Admin, "Administratör", "Administrator"),
];

const PERMISSIONS: [(Permission, &str, &str); 10] = [
    (
        Permission::SignalsSubmit,
        "lämna signaler",
        "submit signals",
    ),
    (
        Permission::SignalsOwn,
        "se och återkalla egna signaler",
        "see and retract own signals",
    ),
    (
        Permission::ReferenceRead,
        "läsa områden och ordlistor",
        "read areas and vocabularies",
    ),
    (
        Permission::TrendsRead,
        "läsa skyddade trender, larm och exporter",
        "read protected trends, alarms and exports",
    ),
    (
        Permission::InterventionsWrite,
        "registrera insatser",
        "register interventions",
    ),
    (
        Permission::PopulationWrite,
        "ladda upp befolkningstal",
        "upload population figures",
    ),
    (
        Permission::ReferenceWrite,
        "ändra områden och ordlistor",
        "change areas and vocabularies",
    ),
    (Permission::UsersManage, "hantera användare", "manage users"),
    (
        Permission::TokensManage,
        "hantera API-nycklar",
        "manage API tokens",
    ),
    (
        Permission::AuditRead,
        "läsa granskningsloggen",
        "read the audit log",
    ),
];

fn role_text(lang: Lang, role: Role) -> &'static str {
    ROLES
        .iter()
        .find(|(r, _, _)| *r == role)
        .map_or("", |(_, sv, en)| if lang == Lang::Sv { sv } else { en })
}

fn permission_text(lang: Lang, code: &str) -> String {
    PERMISSIONS
        .iter()
        .find(|(p, _, _)| p.as_str() == code)
        .map_or_else(
            || code.to_owned(),
            |(p, sv, en)| format!("{} ({})", if lang == Lang::Sv { sv } else { en }, p),
        )
}

/// A user as the list and the user page show it.
pub struct UserRow {
    pub id: Uuid,
    pub username: String,
    pub role: &'static str,
    pub kind: &'static str,
    pub area: String,
    pub disabled: bool,
}

fn user_row(t: &Texts, lang: Lang, labels: &Labels, user: &UserView) -> UserRow {
    UserRow {
        id: user.id,
        username: user.username.clone(),
        role: role_text(lang, user.role),
        kind: match user.kind {
            AccountKind::Person => t.kind_person,
            AccountKind::Service => t.kind_service,
        },
        area: labels.of("area", &user.area),
        disabled: user.disabled,
    }
}

fn role_choices(lang: Lang, chosen: Option<&str>) -> Vec<Choice> {
    ROLES
        .iter()
        .map(|(role, _, _)| Choice {
            selected: chosen == Some(role.as_str()),
            value: role.as_str().to_owned(),
            label: role_text(lang, *role).to_owned(),
        })
        .collect()
}

/// The API's reasons as field → words on the page (the first reason per field); a
/// conflict is shown at `conflict.0`, in Swedish as `conflict.1`.
fn errors_at_fields(
    lang: Lang,
    error: ApiError,
    conflict: (&str, &str),
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut errors = BTreeMap::new();
    match error {
        ApiError::Validation(list) => {
            for e in list {
                let field = e.field.split('.').next().unwrap_or_default().to_owned();
                errors.entry(field).or_insert_with(|| field_words(lang, &e));
            }
        }
        // The step-up's refusal belongs next to the password that was asked for.
        ApiError::Forbidden(message) if message.starts_with("current_password") => {
            let words = match lang {
                Lang::Sv => "lösenordet stämmer inte med ditt; inget ändrades".to_owned(),
                Lang::En => message,
            };
            errors.insert("current_password".to_owned(), words);
        }
        ApiError::Conflict(message) => {
            let words = match lang {
                Lang::Sv => conflict.1.to_owned(),
                Lang::En => message,
            };
            errors.insert(conflict.0.to_owned(), words);
        }
        other => return Err(other),
    }
    Ok(errors)
}

#[derive(Template)]
#[template(path = "admin.html")]
struct UsersPage {
    chrome: Chrome,
    t: &'static Texts,
    rows: Vec<UserRow>,
    next: Option<String>,
    username: String,
    kinds: Vec<Choice>,
    roles: Vec<Choice>,
    areas: Vec<Choice>,
    errors: BTreeMap<String, String>,
}

impl UsersPage {
    fn error(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }
}

#[derive(serde::Deserialize)]
struct ListQuery {
    efter: Option<String>,
}

async fn users_page(
    req: &HttpRequest,
    state: &AppState,
    viewer: &Viewer,
    after: Option<String>,
    typed: &FormFields,
    errors: BTreeMap<String, String>,
) -> Result<HttpResponse, PageError> {
    let lang = viewer.lang;
    let t = lang.texts();
    let (areas, labels) = Labels::for_viewer(state, viewer).await?;
    let mut items = users::list(state, &viewer.principal, after, PAGE_SIZE + 1)
        .await
        .map_err(|e| viewer.fail(e))?;
    let more = items.len() as i64 > PAGE_SIZE;
    items.truncate(PAGE_SIZE as usize);
    let next = more
        .then(|| items.last().map(|u| u.username.clone()))
        .flatten()
        .map(|u| url::form_urlencoded::byte_serialize(u.as_bytes()).collect());
    let kind = typed.get("kind").unwrap_or("person");
    let page = UsersPage {
        chrome: Chrome::new(req, lang, t.admin_heading, "admin").signed_in(viewer),
        t,
        rows: items
            .iter()
            .map(|u| user_row(t, lang, &labels, u))
            .collect(),
        next,
        username: typed.get("username").unwrap_or_default().to_owned(),
        kinds: [("person", t.kind_person), ("service", t.kind_service)]
            .into_iter()
            .map(|(value, label)| Choice {
                selected: kind == value,
                value: value.to_owned(),
                label: label.to_owned(),
            })
            .collect(),
        roles: role_choices(lang, typed.get("role")),
        areas: area_choices(&areas, viewer.principal.area.level, typed.get("area")),
        errors,
    };
    form_html(lang, &page, !page.errors.is_empty())
}

/// The users of the admin's area, by username, and the form for a new one.
#[get("/admin")]
pub async fn index(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, PageError> {
    viewer.require(Permission::UsersManage)?;
    let after = query
        .efter
        .clone()
        .filter(|u| !u.is_empty() && u.len() <= 64);
    let none = FormFields::parse(b"");
    users_page(&req, &state, &viewer, after, &none, BTreeMap::new()).await
}

/// Creates a user: the API's rules (a password for persons, none for service accounts,
/// your own password again for a new admin), the reasons next to the fields.
#[post("/admin/anvandare")]
pub async fn create_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    meta: RequestMeta,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let form = viewer.form(&body, Permission::UsersManage)?;
    let lang = viewer.lang;
    let t = lang.texts();
    let mut errors = BTreeMap::new();
    let role = form.get("role").and_then(|r| r.parse::<Role>().ok());
    if role.is_none() {
        errors.insert("role".to_owned(), t.choose_one.to_owned());
    }
    let kind = match form.get("kind") {
        Some("service") => AccountKind::Service,
        _ => AccountKind::Person,
    };
    let secret = |name: &str| form.get(name).filter(|v| !v.is_empty()).map(str::to_owned);
    if let Some(role) = role {
        let request = CreateUser {
            username: form.get("username").unwrap_or_default().trim().to_owned(),
            role,
            area: form.get("area").unwrap_or_default().to_owned(),
            kind,
            password: secret("password"),
            current_password: secret("current_password"),
        };
        let outcome = match request.validate() {
            Err(invalid) => Err(ApiError::Validation(field_errors(&invalid))),
            Ok(()) => users::create(&state, &viewer.principal, request, meta).await,
        };
        match outcome {
            Ok(created) => {
                return Ok(HttpResponse::SeeOther()
                    .insert_header(("Location", format!("/admin/anvandare/{}", created.id)))
                    .finish());
            }
            Err(error) => {
                let taken = ("username", "användarnamnet är upptaget");
                errors.extend(errors_at_fields(lang, error, taken).map_err(|e| viewer.fail(e))?);
            }
        }
    }
    users_page(&req, &state, &viewer, None, &form, errors).await
}

/// A token as the user page lists it.
pub struct TokenRow {
    pub id: Uuid,
    pub name: String,
    pub permissions: String,
    pub expires: String,
    pub last_used: String,
    pub revoked: bool,
}

fn token_row(t: &Texts, lang: Lang, token: &ApiTokenView) -> TokenRow {
    let day = |at: chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%d").to_string();
    TokenRow {
        id: token.id,
        name: token.name.clone(),
        permissions: token
            .permissions
            .iter()
            .map(|p| permission_text(lang, p))
            .collect::<Vec<_>>()
            .join(", "),
        expires: day(token.expires_at),
        last_used: token.last_used_at.map_or_else(|| t.never.to_owned(), day),
        revoked: token.revoked_at.is_some(),
    }
}

#[derive(Template)]
#[template(path = "admin_user.html")]
struct UserPage {
    chrome: Chrome,
    t: &'static Texts,
    user: UserRow,
    is_service: bool,
    roles: Vec<Choice>,
    areas: Vec<Choice>,
    statuses: Vec<Choice>,
    tokens: Vec<TokenRow>,
    permissions: Vec<Choice>,
    token_name: String,
    expires_in_days: String,
    created_secret: Option<String>,
    saved: bool,
    errors: BTreeMap<String, String>,
}

impl UserPage {
    fn error(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }
}

/// What the user page shows besides the user: a form as typed, its errors, a new secret.
#[derive(Default)]
struct Shown {
    typed: Option<FormFields>,
    errors: BTreeMap<String, String>,
    created_secret: Option<String>,
    saved: bool,
}

async fn user_page(
    req: &HttpRequest,
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    shown: Shown,
) -> Result<HttpResponse, PageError> {
    let lang = viewer.lang;
    let t = lang.texts();
    let fail = |e| viewer.fail(e);
    let user = users::get(state, &viewer.principal, id)
        .await
        .map_err(fail)?;
    let (areas, labels) = Labels::for_viewer(state, viewer).await?;
    let tokens = api_tokens::list(state, &viewer.principal, Some(id))
        .await
        .map_err(fail)?;
    let typed = shown.typed.unwrap_or_else(|| FormFields::parse(b""));
    let role = typed.get("role").unwrap_or(user.role.as_str()).to_owned();
    let area = typed.get("area").unwrap_or(&user.area).to_owned();
    let disabled = typed
        .get("status")
        .map_or(user.disabled, |s| s == "disabled");
    let held = Permission::granted_to(user.role);
    let chosen_permissions: Vec<&str> = typed.all("permissions").collect();
    let page = UserPage {
        chrome: Chrome::new(req, lang, &user.username, "admin").signed_in(viewer),
        t,
        is_service: user.kind == AccountKind::Service,
        roles: role_choices(lang, Some(&role)),
        areas: area_choices(&areas, viewer.principal.area.level, Some(&area)),
        statuses: [
            ("active", t.active, !disabled),
            ("disabled", t.disabled, disabled),
        ]
        .into_iter()
        .map(|(value, label, selected)| Choice {
            value: value.to_owned(),
            label: label.to_owned(),
            selected,
        })
        .collect(),
        tokens: tokens.iter().map(|k| token_row(t, lang, k)).collect(),
        permissions: held
            .iter()
            .map(|p| Choice {
                selected: chosen_permissions.contains(&p.as_str()),
                value: p.as_str().to_owned(),
                label: permission_text(lang, p.as_str()),
            })
            .collect(),
        token_name: typed.get("name").unwrap_or_default().to_owned(),
        expires_in_days: typed.get("expires_in_days").unwrap_or("365").to_owned(),
        created_secret: shown.created_secret,
        saved: shown.saved,
        user: user_row(t, lang, &labels, &user),
        errors: shown.errors,
    };
    form_html(lang, &page, !page.errors.is_empty())
}

fn user_id(viewer: &Viewer, text: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(text).map_err(|_| viewer.fail(ApiError::NotFound))
}

#[derive(serde::Deserialize)]
struct UserQuery {
    sparad: Option<String>,
}

/// One user: role, area and status to change, a password to set, and (service
/// accounts) its API tokens.
#[get("/admin/anvandare/{id}")]
pub async fn user_detail(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    id: web::Path<String>,
    query: web::Query<UserQuery>,
) -> Result<HttpResponse, PageError> {
    viewer.require(Permission::UsersManage)?;
    let id = user_id(&viewer, &id)?;
    let minted = session::take_new_token(&req, &state, id);
    let shown = Shown {
        saved: query.sparad.is_some(),
        created_secret: minted.as_ref().map(|(secret, _)| secret.clone()),
        ..Shown::default()
    };
    let mut response = user_page(&req, &state, &viewer, id, shown).await?;
    if let Some((_, clear)) = minted {
        response
            .add_cookie(&clear)
            .map_err(|e| viewer.fail(ApiError::internal(e)))?;
    }
    Ok(response)
}

/// Changes role, area, status or password: only what differs from the stored user is
/// sent, so that an unchanged form asks for no step-up.
#[post("/admin/anvandare/{id}")]
pub async fn update_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    meta: RequestMeta,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let form = viewer.form(&body, Permission::UsersManage)?;
    let lang = viewer.lang;
    let id = user_id(&viewer, &id)?;
    let current = users::get(&state, &viewer.principal, id)
        .await
        .map_err(|e| viewer.fail(e))?;
    let mut errors = BTreeMap::new();
    let role = match form.get("role").map(str::parse::<Role>) {
        Some(Ok(role)) => Some(role).filter(|r| *r != current.role),
        _ => {
            errors.insert("role".to_owned(), lang.texts().choose_one.to_owned());
            None
        }
    };
    let secret = |name: &str| form.get(name).filter(|v| !v.is_empty()).map(str::to_owned);
    let change = UpdateUser {
        role,
        area: form
            .get("area")
            .filter(|a| *a != current.area)
            .map(str::to_owned),
        disabled: form
            .get("status")
            .map(|s| s == "disabled")
            .filter(|d| *d != current.disabled),
        password: secret("password"),
        current_password: secret("current_password"),
    };
    if errors.is_empty() {
        let outcome = match change.validate() {
            Err(invalid) => Err(ApiError::Validation(field_errors(&invalid))),
            Ok(()) => users::update(&state, &viewer.principal, id, change, meta).await,
        };
        match outcome {
            Ok(_) => {
                return Ok(HttpResponse::SeeOther()
                    .insert_header(("Location", format!("/admin/anvandare/{id}?sparad=1")))
                    .finish());
            }
            Err(error) => {
                let last_admin = (
                    "status",
                    "det skulle lämna området utan en aktiv administratör (utse en annan först), \
                     eller så ändrades användaren samtidigt: försök igen",
                );
                errors = errors_at_fields(lang, error, last_admin).map_err(|e| viewer.fail(e))?;
            }
        }
    }
    let shown = Shown {
        typed: Some(form),
        errors,
        ..Shown::default()
    };
    user_page(&req, &state, &viewer, id, shown).await
}

/// Mints an API token for a service account. The secret is stored only as a digest; it
/// travels to the user's page in a one-minute cookie and is shown there once (a reload
/// shows it no more and mints nothing).
#[post("/admin/anvandare/{id}/nycklar")]
pub async fn create_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    meta: RequestMeta,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let form = viewer.form(&body, Permission::TokensManage)?;
    let lang = viewer.lang;
    let id = user_id(&viewer, &id)?;
    let mut errors = BTreeMap::new();
    let days = form.get("expires_in_days").unwrap_or_default().trim();
    let expires_in_days = match days.parse::<u16>() {
        Ok(days) => days,
        Err(_) => {
            errors.insert(
                "expires_in_days".to_owned(),
                lang.texts().whole_days.to_owned(),
            );
            0
        }
    };
    let mut permissions = Vec::new();
    for code in form.all("permissions") {
        match code.parse::<Permission>() {
            Ok(p) => permissions.push(p),
            Err(_) => {
                errors.insert("permissions".to_owned(), lang.texts().choose_one.to_owned());
            }
        }
    }
    if errors.is_empty() {
        let request = CreateApiToken {
            name: form.get("name").unwrap_or_default().trim().to_owned(),
            user_id: Some(id),
            permissions,
            expires_in_days,
        };
        let outcome = match request.validate() {
            Err(invalid) => Err(ApiError::Validation(field_errors(&invalid))),
            Ok(()) => api_tokens::create(&state, &viewer.principal, request, meta).await,
        };
        match outcome {
            Ok(created) => {
                let carried = session::new_token_cookie(&req, &state, id, &created.token);
                return Ok(HttpResponse::SeeOther()
                    .cookie(carried)
                    .insert_header(("Location", format!("/admin/anvandare/{id}")))
                    .finish());
            }
            Err(error) => {
                errors = errors_at_fields(lang, error, ("name", "försök igen"))
                    .map_err(|e| viewer.fail(e))?;
                // The owner is this page's user: its problem (disabled) reads at the name.
                if let Some(message) = errors.remove("user_id") {
                    errors.entry("name".to_owned()).or_insert(message);
                }
            }
        }
    }
    let shown = Shown {
        typed: Some(form),
        errors,
        ..Shown::default()
    };
    user_page(&req, &state, &viewer, id, shown).await
}

/// Revokes a token at once, and returns to its owner's page.
#[post("/admin/nycklar/{id}/aterkalla")]
pub async fn revoke_token(
    state: web::Data<AppState>,
    viewer: Viewer,
    meta: RequestMeta,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let form = viewer.form(&body, Permission::TokensManage)?;
    let token = user_id(&viewer, &id)?;
    api_tokens::revoke(&state, &viewer.principal, token, meta)
        .await
        .map_err(|e| viewer.fail(e))?;
    let back = form
        .get("owner")
        .and_then(|o| Uuid::parse_str(o).ok())
        .map_or_else(|| "/admin".to_owned(), |o| format!("/admin/anvandare/{o}"));
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", back))
        .finish())
}
