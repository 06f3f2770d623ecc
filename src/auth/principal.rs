//! The authenticated caller and the facts of their request, as every room above the
//! HTTP edge sees them: services, audit rows and permission checks take these, never a
//! request.

use std::net::IpAddr;

use uuid::Uuid;

use crate::auth::permissions::Permission;
use crate::db::models::{Area, User};
use crate::domain::identity::{AreaLevel, Role};
use crate::error::ApiError;

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// An access token of a login session.
    Session(Uuid),
    /// An API token.
    ApiToken(Uuid),
}

/// The authenticated caller, as the database sees them now.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub role: Role,
    pub area: Area,
    /// The role's permissions, narrowed to the token's for API tokens.
    pub permissions: Vec<Permission>,
    pub credential: Credential,
}

impl Principal {
    pub fn can(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    /// Whether the area at `path` lies in the caller's subtree.
    pub fn scope_contains(&self, path: &str) -> bool {
        crate::domain::identity::in_subtree(&self.area.path, path)
    }

    /// Whether the caller's area is the root of the tree: they act for the whole service.
    pub fn is_root(&self) -> bool {
        self.area.level == AreaLevel::National
    }

    /// A 403 unless the caller acts for the whole service: categories, arenas and age
    /// bands are shared by every area, so no one area's admin may change them for all.
    pub fn require_root_for_vocabulary(&self) -> Result<(), ApiError> {
        if self.is_root() {
            return Ok(());
        }
        Err(ApiError::Forbidden(
            "categories, arenas and age bands are shared by every area: only an admin of the \
             root area (the whole service) may change them"
                .into(),
        ))
    }

    pub fn session(&self) -> Option<Uuid> {
        match self.credential {
            Credential::Session(id) => Some(id),
            Credential::ApiToken(_) => None,
        }
    }
}

/// Request facts needed for audit rows and throttling.
#[derive(Debug, Clone, Copy)]
pub struct RequestMeta {
    pub request_id: Option<Uuid>,
    pub client_ip: Option<IpAddr>,
}
