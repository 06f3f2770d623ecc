//! Login sessions: password login with lockout, rotating refresh, logout, password change,
//! and the step-up check of an admin's own password before a powerful act.
//!
//! Login failures are indistinguishable: an unknown user, a wrong password, a disabled
//! account and a service account all get the same 401 after the same argon2 work.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::Connection;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Principal;
use crate::auth::password;
use crate::auth::principal::RequestMeta;
use crate::auth::secrets;
use crate::db::models::User;
use crate::db::queries::{audit, sessions, throttle, users};
use crate::db::{self, queries::sessions::Rotation};
use crate::error::ApiError;
use crate::services::audit::{Audit, Outcome};
use crate::state::AppState;

/// Login attempts per account within [`THROTTLE_WINDOW`] before it is locked.
pub const ACCOUNT_MAX_FAILURES: i32 = 5;
/// Failed attempts per client (an IPv4 address, an IPv6 /64) within [`THROTTLE_WINDOW`]
/// before it is locked. Higher than per account: many people may share one address (NAT).
pub const CLIENT_MAX_FAILURES: i32 = 100;
/// The sliding counting window, and how long a lock lasts.
pub const THROTTLE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Absolute lifetime of a session: refreshing never extends it.
pub const SESSION_LIFETIME_DAYS: i64 = 30;

const INVALID_LOGIN: ApiError = ApiError::Unauthorized {
    detail: "invalid username or password",
    invalid_token: false,
};
const INVALID_REFRESH: ApiError = ApiError::Unauthorized {
    detail: "the refresh token is invalid, expired or revoked",
    invalid_token: true,
};

/// What a login or refresh returns.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"access_token": "eyJhbGciOiJIUzI1NiIsImtpZCI6IjFhMmIzYzRkNWU2ZjcwODEiLCJ0eXAiOiJKV1QifQ.…",
    "token_type": "Bearer", "expires_in": 900, "refresh_token": "rt_3q2-7wEXAMPLEonlyXJ1bGVzIGFyZSBydWxlcw"}))]
pub struct TokenPair {
    /// A JWT for `Authorization: Bearer …`, valid for `expires_in` seconds.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u32,
    /// Opaque; exchange it at `/v1/auth/refresh` for a new pair. Single use.
    pub refresh_token: String,
}

fn issue(
    state: &AppState,
    user: &User,
    session: Uuid,
    refresh_token: String,
) -> Result<TokenPair, ApiError> {
    let ttl = state.settings.auth.access_token_ttl_secs;
    let access_token = state
        .jwt
        .issue(
            user.id,
            session,
            user.credentials_version,
            Utc::now(),
            i64::from(ttl),
        )
        .map_err(ApiError::internal)?;
    Ok(TokenPair {
        access_token,
        token_type: "Bearer",
        expires_in: ttl,
        refresh_token,
    })
}

/// Starts a session for `user` and returns its first token pair; `also` runs in the
/// same transaction (the audit row, counter resets).
async fn start_session<F>(state: &AppState, user: User, also: F) -> Result<TokenPair, ApiError>
where
    F: FnOnce(&mut diesel::PgConnection, Uuid) -> Result<(), ApiError> + Send + 'static,
{
    let refresh = secrets::random_token("rt_")?;
    let digest = secrets::digest(&refresh);
    let expires_at = Utc::now() + chrono::Duration::days(SESSION_LIFETIME_DAYS);
    let user_id = user.id;
    let session = db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            let session = sessions::start(conn, user_id, expires_at, &digest)?;
            also(conn, session.id)?;
            Ok(session)
        })
    })
    .await?;
    issue(state, &user, session.id, refresh)
}

/// The throttling key of a client: its IPv4 address, or its IPv6 /64 (one subscriber
/// usually holds a whole /64), stored as a keyed digest like every throttle key.
fn client_key(state: &AppState, ip: IpAddr) -> String {
    let client = match ip {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    };
    throttle_key(state, &client)
}

/// The throttling key of an account as typed. People type passwords into the username
/// field, so what was typed is kept only as a keyed digest.
fn account_key(state: &AppState, username: &str) -> String {
    throttle_key(state, &format!("user:{username}"))
}

fn throttle_key(state: &AppState, key: &str) -> String {
    let secret = state.jwt.derived_secret("login throttle");
    secrets::keyed_digest(&secret, key.as_bytes())
}

pub async fn login(
    state: &AppState,
    username: &str,
    candidate: String,
    meta: RequestMeta,
) -> Result<TokenPair, ApiError> {
    let username = username.trim().to_lowercase();
    let account_key = account_key(state, &username);
    let client_key = meta.client_ip.map(|ip| client_key(state, ip));
    let now = Utc::now();
    let (locked, found) = {
        let (account_key, client_key) = (account_key.clone(), client_key.clone());
        db::run(&state.pool, move |conn| {
            // Counted before verification: parallel guesses cannot outrun the limit.
            let mut locked = throttle::reserve(
                conn,
                &account_key,
                ACCOUNT_MAX_FAILURES,
                THROTTLE_WINDOW,
                now,
            )?;
            if let Some(key) = &client_key {
                locked = locked.max(throttle::reserve(
                    conn,
                    key,
                    CLIENT_MAX_FAILURES,
                    THROTTLE_WINDOW,
                    now,
                )?);
            }
            Ok((locked, users::by_username(conn, &username)?))
        })
        .await?
    };
    if let Some(wait) = locked {
        let row = Audit::new("auth.login", Outcome::Denied, &meta)
            .details(serde_json::json!({"reason": "locked"}));
        let row = match &found {
            Some((user, area)) => row.actor(user.id, &area.path),
            None => row,
        };
        db::run(&state.pool, move |conn| audit::record(conn, row.row())).await?;
        return Err(ApiError::TooManyRequests {
            retry_after: wait.max(Duration::from_secs(1)),
        });
    }

    let stored = found
        .as_ref()
        .and_then(|(user, _)| user.password_hash.clone());
    let verified =
        password::run_gated(move || Ok(password::verify(&candidate, stored.as_deref()))).await?;
    match found {
        Some((user, area)) if verified && !user.disabled => {
            let row = Audit::new("auth.login", Outcome::Success, &meta).actor(user.id, &area.path);
            start_session(state, user, move |conn, session| {
                throttle::clear(conn, &account_key)?;
                if let Some(key) = &client_key {
                    throttle::release(conn, key)?;
                }
                audit::record(conn, row.target("session", session).row())
            })
            .await
        }
        found => {
            let mut row = Audit::new("auth.login", Outcome::Failure, &meta);
            if let Some((user, area)) = &found {
                row = row.actor(user.id, &area.path);
            }
            db::run(&state.pool, move |conn| audit::record(conn, row.row())).await?;
            Err(INVALID_LOGIN)
        }
    }
}

pub async fn refresh(
    state: &AppState,
    presented: &str,
    meta: RequestMeta,
) -> Result<TokenPair, ApiError> {
    let successor = secrets::random_token("rt_")?;
    let (old, new) = (secrets::digest(presented), secrets::digest(&successor));
    let now: DateTime<Utc> = Utc::now();
    let outcome = db::run(&state.pool, move |conn| {
        sessions::rotate(conn, &old, &new, now)
    })
    .await?;
    match outcome {
        Rotation::Rotated { user, session } => issue(state, &user, session.id, successor),
        Rotation::Invalid => Err(INVALID_REFRESH),
        Rotation::Reused { user, session } => {
            tracing::warn!(
                %session,
                "a used refresh token was presented again; the session is revoked"
            );
            let row =
                Audit::new("auth.refresh_reuse", Outcome::Denied, &meta).target("session", session);
            db::run(&state.pool, move |conn| {
                let area = users::by_id(conn, user)?
                    .map(|(_, area)| area.path)
                    .unwrap_or_default();
                audit::record(conn, row.actor(user, &area).row())
            })
            .await?;
            Err(INVALID_REFRESH)
        }
    }
}

/// Changes a password: the current one must verify (wrong guesses count against the
/// account's login limit); every session, access token and API token of the user ends
/// (the credentials version moves on); the caller gets a fresh session.
pub async fn change_password(
    state: &AppState,
    user: User,
    area_path: String,
    current: String,
    new: password::NewPassword,
    meta: RequestMeta,
) -> Result<TokenPair, ApiError> {
    let account_key = account_key(state, &user.username);
    let now = Utc::now();
    let locked = {
        let key = account_key.clone();
        db::run(&state.pool, move |conn| {
            throttle::reserve(conn, &key, ACCOUNT_MAX_FAILURES, THROTTLE_WINDOW, now)
        })
        .await?
    };
    if let Some(wait) = locked {
        return Err(ApiError::TooManyRequests {
            retry_after: wait.max(Duration::from_secs(1)),
        });
    }
    let stored = user.password_hash.clone();
    let (verified, hash) = password::run_gated(move || {
        let verified = password::verify(&current, stored.as_deref());
        let hash = if verified {
            Some(password::hash(&new)?)
        } else {
            None
        };
        Ok((verified, hash))
    })
    .await?;
    let user_id = user.id;
    let Some(hash) = hash.filter(|_| verified) else {
        let row = Audit::new("user.password_change", Outcome::Failure, &meta)
            .actor(user_id, &area_path)
            .target("user", user_id);
        db::run(&state.pool, move |conn| audit::record(conn, row.row())).await?;
        return Err(ApiError::invalid(
            "current_password",
            "mismatch",
            "the current password is not correct",
        ));
    };
    let row = Audit::new("user.password_change", Outcome::Success, &meta)
        .actor(user_id, &area_path)
        .target("user", user_id);
    let updated = db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            let updated = users::set_password(conn, user_id, &hash)?;
            let (sessions_ended, tokens_revoked) = end_credentials(conn, user_id)?;
            throttle::clear(conn, &account_key)?;
            let details = serde_json::json!({
                "sessions_ended": sessions_ended,
                "api_tokens_revoked": tokens_revoked,
            });
            audit::record(conn, row.details(details).row())?;
            Ok(updated)
        })
    })
    .await?;
    start_session(state, updated, |_, _| Ok(())).await
}

/// Ends `principal`'s login session: its refresh token and access tokens stop working
/// at once. API tokens have no session (they are revoked one by one): 403.
pub async fn logout(
    state: &AppState,
    principal: &Principal,
    meta: RequestMeta,
) -> Result<(), ApiError> {
    let session = principal.session().ok_or_else(|| {
        ApiError::Forbidden("API tokens are revoked with DELETE /v1/api-tokens/{id}".into())
    })?;
    let row = Audit::new("auth.logout", Outcome::Success, &meta)
        .by(principal)
        .target("session", session);
    db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            sessions::revoke(conn, session, Utc::now())?;
            audit::record(conn, row.row())
        })
    })
    .await
}

/// Ends every session and revokes every API token of a user whose password changed or
/// who was disabled: nothing issued before keeps working.
pub fn end_credentials(
    conn: &mut diesel::PgConnection,
    user: Uuid,
) -> Result<(usize, usize), ApiError> {
    let now = Utc::now();
    Ok((
        sessions::revoke_all(conn, user, now)?,
        crate::db::queries::api_tokens::revoke_all(conn, user, now)?,
    ))
}

/// Step-up: before `act` (creating an admin, setting an admin's password), `principal`
/// proves again who they are with their own password, so that a stolen session or a
/// terminal left open does not reach further. Missing: 422. Wrong: 403, audited as a
/// failure of `auth.step_up`, and counted against the account like a failed login (the
/// same limit and lock, so it is no way around the login throttle).
pub async fn step_up(
    state: &AppState,
    principal: &Principal,
    candidate: Option<String>,
    act: &'static str,
    meta: &RequestMeta,
) -> Result<(), ApiError> {
    let Some(candidate) = candidate else {
        return Err(ApiError::invalid(
            "current_password",
            "required",
            "this act needs your own password again in current_password",
        ));
    };
    let Some(stored) = principal.user.password_hash.clone() else {
        return Err(ApiError::Forbidden(
            "this act needs the password of a person account; a service account has none".into(),
        ));
    };
    let account_key = account_key(state, &principal.user.username);
    let now = Utc::now();
    let locked = {
        let key = account_key.clone();
        db::run(&state.pool, move |conn| {
            throttle::reserve(conn, &key, ACCOUNT_MAX_FAILURES, THROTTLE_WINDOW, now)
        })
        .await?
    };
    let row = |outcome, reason: &str| {
        Audit::new("auth.step_up", outcome, meta)
            .by(principal)
            .details(serde_json::json!({"for": act, "reason": reason}))
    };
    if let Some(wait) = locked {
        let row = row(Outcome::Denied, "locked");
        db::run(&state.pool, move |conn| audit::record(conn, row.row())).await?;
        return Err(ApiError::TooManyRequests {
            retry_after: wait.max(Duration::from_secs(1)),
        });
    }
    let verified =
        password::run_gated(move || Ok(password::verify(&candidate, Some(&stored)))).await?;
    if verified {
        // The attempt was counted before verifying; a right password gives it back.
        db::run(&state.pool, move |conn| {
            throttle::release(conn, &account_key)
        })
        .await?;
        return Ok(());
    }
    let row = row(Outcome::Failure, "mismatch");
    db::run(&state.pool, move |conn| audit::record(conn, row.row())).await?;
    Err(ApiError::Forbidden(
        "current_password does not match your password; nothing was changed".into(),
    ))
}
