//! The permission matrix of docs/design.md §3, written once.
//!
//! Handlers name the permission they need as a type parameter of
//! [`Authorized`](super::Authorized), e.g. `Authorized<perm::UsersManage>`; a handler
//! without one is public, and the route-matrix test lists every route.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::identity::Role;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum Permission {
    #[serde(rename = "signals:submit")]
    SignalsSubmit,
    #[serde(rename = "signals:own")]
    SignalsOwn,
    #[serde(rename = "reference:read")]
    ReferenceRead,
    #[serde(rename = "trends:read")]
    TrendsRead,
    #[serde(rename = "interventions:write")]
    InterventionsWrite,
    #[serde(rename = "population:write")]
    PopulationWrite,
    #[serde(rename = "reference:write")]
    ReferenceWrite,
    #[serde(rename = "users:manage")]
    UsersManage,
    #[serde(rename = "tokens:manage")]
    TokensManage,
    #[serde(rename = "audit:read")]
    AuditRead,
}

impl Permission {
    pub const ALL: [Permission; 10] = [
        Permission::SignalsSubmit,
        Permission::SignalsOwn,
        Permission::ReferenceRead,
        Permission::TrendsRead,
        Permission::InterventionsWrite,
        Permission::PopulationWrite,
        Permission::ReferenceWrite,
        Permission::UsersManage,
        Permission::TokensManage,
        Permission::AuditRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::SignalsSubmit => "signals:submit",
            Permission::SignalsOwn => "signals:own",
            Permission::ReferenceRead => "reference:read",
            Permission::TrendsRead => "trends:read",
            Permission::InterventionsWrite => "interventions:write",
            Permission::PopulationWrite => "population:write",
            Permission::ReferenceWrite => "reference:write",
            Permission::UsersManage => "users:manage",
            Permission::TokensManage => "tokens:manage",
            Permission::AuditRead => "audit:read",
        }
    }

    /// What a role may do. This function is the permission matrix.
    pub fn granted_to(role: Role) -> &'static [Permission] {
        use Permission::*;
        match role {
            Role::School
            | Role::FieldWorker
            | Role::Police
            | Role::SocialServices
            | Role::Leisure => &[SignalsSubmit, SignalsOwn, ReferenceRead],
            Role::Coordinator => &[
                ReferenceRead,
                TrendsRead,
                InterventionsWrite,
                PopulationWrite,
            ],
            Role::Analyst => &[ReferenceRead, TrendsRead],
            Role::Admin => &[
                ReferenceRead,
                PopulationWrite,
                ReferenceWrite,
                UsersManage,
                TokensManage,
                AuditRead,
            ],
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown permission: {s}"))
    }
}

/// A permission named as a type, for `Authorized<P>`.
pub trait RequiredPermission {
    const PERMISSION: Permission;
}

/// Marker types, one per permission.
pub mod perm {
    use super::{Permission, RequiredPermission};

    macro_rules! markers {
        ($($name:ident),*) => {$(
            pub struct $name;
            impl RequiredPermission for $name {
                const PERMISSION: Permission = Permission::$name;
            }
        )*};
    }

    markers!(
        SignalsSubmit,
        SignalsOwn,
        ReferenceRead,
        TrendsRead,
        InterventionsWrite,
        PopulationWrite,
        ReferenceWrite,
        UsersManage,
        TokensManage,
        AuditRead
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reporters_submit_and_nobody_else_does() {
        for role in Role::ALL {
            let reporter = !matches!(role, Role::Coordinator | Role::Analyst | Role::Admin);
            assert_eq!(
                Permission::granted_to(role).contains(&Permission::SignalsSubmit),
                reporter,
                "{role}"
            );
            assert_eq!(
                Permission::granted_to(role).contains(&Permission::SignalsOwn),
                reporter,
                "{role}"
            );
        }
    }

    #[test]
    fn only_admins_manage_users_and_tokens_and_read_the_audit_log() {
        for role in Role::ALL {
            let granted = Permission::granted_to(role);
            for p in [
                Permission::UsersManage,
                Permission::TokensManage,
                Permission::AuditRead,
                Permission::ReferenceWrite,
            ] {
                assert_eq!(granted.contains(&p), role == Role::Admin, "{role} {p}");
            }
        }
    }

    #[test]
    fn everyone_reads_reference_data_and_codes_round_trip() {
        for role in Role::ALL {
            assert!(Permission::granted_to(role).contains(&Permission::ReferenceRead));
        }
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>(), Ok(p));
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
    }
}
