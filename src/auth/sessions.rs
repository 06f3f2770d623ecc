//! Login sessions: password login with lockout, rotating refresh, logout, password change.
//!
//! Login failures are indistinguishable: an unknown user, a wrong password, a disabled
//! account and a service account all get the same 401 after the same argon2 work.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::Connection;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit::{Audit, Outcome};
use crate::auth::extract::RequestMeta;
use crate::auth::password;
use crate::auth::secrets;
use crate::db::models::User;
use crate::db::queries::{audit, sessions, throttle, users};
use crate::db::{self, queries::sessions::Rotation};
use crate::error::ApiError;
use crate::startup::AppState;

/// Failed logins per account within [`THROTTLE_WINDOW`] before it is locked.
pub const ACCOUNT_MAX_FAILURES: i32 = 5;
/// Failed logins per client address within [`THROTTLE_WINDOW`] before it is locked.
pub const CLIENT_MAX_FAILURES: i32 = 20;
/// The counting window, and how long a lock lasts.
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
#[derive(Debug, Serialize, ToSchema)]
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

/// Starts a session for `user` and returns its first token pair.
async fn start_session(
    state: &AppState,
    user: User,
    audit_row: Option<Audit>,
) -> Result<TokenPair, ApiError> {
    let refresh = secrets::random_token("rt_")?;
    let digest = secrets::digest(&refresh);
    let expires_at = Utc::now() + chrono::Duration::days(SESSION_LIFETIME_DAYS);
    let user_id = user.id;
    let session = db::run(&state.pool, move |conn| {
        let session = sessions::start(conn, user_id, expires_at, &digest)?;
        if let Some(row) = audit_row {
            audit::record(conn, row.target("session", session.id).row())?;
        }
        Ok(session)
    })
    .await?;
    issue(state, &user, session.id, refresh)
}

pub async fn login(
    state: &AppState,
    username: &str,
    candidate: String,
    meta: RequestMeta,
) -> Result<TokenPair, ApiError> {
    let username = username.trim().to_lowercase();
    let account_key = format!("user:{username}");
    let client_key = meta.client_ip.map(|ip| format!("ip:{ip}"));
    let now = Utc::now();
    let keys: Vec<String> = [Some(account_key.clone()), client_key.clone()]
        .into_iter()
        .flatten()
        .collect();
    let (locked, found) = db::run(&state.pool, move |conn| {
        Ok((
            throttle::locked_for(conn, &keys, now)?,
            users::by_username(conn, &username)?,
        ))
    })
    .await?;
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
        crate::blocking::run(move || Ok(password::verify(&candidate, stored.as_deref()))).await?;
    match found {
        Some((user, area)) if verified && !user.disabled => {
            let row = Audit::new("auth.login", Outcome::Success, &meta).actor(user.id, &area.path);
            db::run(&state.pool, move |conn| throttle::clear(conn, &account_key)).await?;
            start_session(state, user, Some(row)).await
        }
        found => {
            let mut row = Audit::new("auth.login", Outcome::Failure, &meta);
            if let Some((user, area)) = &found {
                row = row.actor(user.id, &area.path);
            }
            db::run(&state.pool, move |conn| {
                throttle::record_failure(
                    conn,
                    &account_key,
                    ACCOUNT_MAX_FAILURES,
                    THROTTLE_WINDOW,
                    now,
                )?;
                if let Some(key) = &client_key {
                    throttle::record_failure(conn, key, CLIENT_MAX_FAILURES, THROTTLE_WINDOW, now)?;
                }
                audit::record(conn, row.row())
            })
            .await?;
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
            tracing::warn!(%session, "a used refresh token was presented again; the session is revoked");
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

/// Changes a password: the current one must verify; every session ends and every access
/// token dies (the credentials version moves on); the caller gets a fresh session.
pub async fn change_password(
    state: &AppState,
    user: User,
    area_path: String,
    current: String,
    new: password::NewPassword,
    meta: RequestMeta,
) -> Result<TokenPair, ApiError> {
    let stored = user.password_hash.clone();
    let (verified, hash) = crate::blocking::run(move || {
        let verified = password::verify(&current, stored.as_deref());
        let hash = if verified {
            Some(password::hash(&new)?)
        } else {
            None
        };
        Ok((verified, hash))
    })
    .await?;
    let Some(hash) = hash.filter(|_| verified) else {
        return Err(ApiError::invalid(
            "current_password",
            "mismatch",
            "the current password is not correct",
        ));
    };
    let user_id = user.id;
    let row = Audit::new("user.password_change", Outcome::Success, &meta)
        .actor(user_id, &area_path)
        .target("user", user_id);
    let updated = db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            let updated = users::set_password(conn, user_id, &hash)?;
            let ended = sessions::revoke_all(conn, user_id, Utc::now())?;
            audit::record(
                conn,
                row.details(serde_json::json!({"sessions_ended": ended}))
                    .row(),
            )?;
            Ok(updated)
        })
    })
    .await?;
    start_session(state, updated, None).await
}
