//! Who people are in Lägesbild: roles, usernames, area codes, account kinds.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a user does, which fixes what they may do (see `auth::permissions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    School,
    FieldWorker,
    Police,
    SocialServices,
    Leisure,
    Coordinator,
    Analyst,
    Admin,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::School,
        Role::FieldWorker,
        Role::Police,
        Role::SocialServices,
        Role::Leisure,
        Role::Coordinator,
        Role::Analyst,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::School => "school",
            Role::FieldWorker => "field_worker",
            Role::Police => "police",
            Role::SocialServices => "social_services",
            Role::Leisure => "leisure",
            Role::Coordinator => "coordinator",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role: {s}"))
    }
}

/// A stored text that names no role or account kind this build knows.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UnknownValue(String);

/// Roles as stored: the database keeps their codes as text.
impl TryFrom<String> for Role {
    type Error = UnknownValue;
    fn try_from(text: String) -> Result<Self, UnknownValue> {
        text.parse().map_err(UnknownValue)
    }
}

/// Person accounts log in with a password; service accounts only use API tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    Person,
    Service,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Person => "person",
            AccountKind::Service => "service",
        }
    }
}

/// Account kinds as stored, as text.
impl TryFrom<String> for AccountKind {
    type Error = UnknownValue;
    fn try_from(text: String) -> Result<Self, UnknownValue> {
        text.parse().map_err(UnknownValue)
    }
}

impl FromStr for AccountKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "person" => Ok(AccountKind::Person),
            "service" => Ok(AccountKind::Service),
            other => Err(format!("unknown account kind: {other}")),
        }
    }
}

/// A login name: 3–64 characters of `a-z 0-9 . _ @ -`, starting with a letter or digit,
/// compared case-insensitively (stored lower-case).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Checked as given (no trimming: what the API documents is what it accepts), then
    /// stored in lower case, so that `Anna.Berg` and `anna.berg` are one account.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let valid_chars = raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c));
        let starts_well = raw
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        if !(3..=64).contains(&raw.len()) || !valid_chars || !starts_well {
            return Err(
                "a username has 3–64 characters: letters a–z, digits, '.', '_', '@' or '-', \
                        starting with a letter or digit"
                    .into(),
            );
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An area code: a lower-case ASCII slug such as `ostra-ersboda`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AreaCode(String);

impl AreaCode {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let valid = !raw.is_empty()
            && raw.len() <= 64
            && raw.split('-').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            });
        if valid {
            Ok(Self(raw.to_string()))
        } else {
            Err(format!(
                "not an area code (a lower-case slug such as `ostra-ersboda`): {raw:?}"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The path of the root of the area tree, the whole service (`sverige`, level
/// `national`): every other path lies below it by the prefix rule.
pub const ROOT_PATH: &str = "/";

/// Levels of the area tree, from the top: one `national` root, then regions,
/// municipalities and districts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AreaLevel {
    National,
    Region,
    Municipality,
    #[default]
    District,
}

impl AreaLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            AreaLevel::National => "national",
            AreaLevel::Region => "region",
            AreaLevel::Municipality => "municipality",
            AreaLevel::District => "district",
        }
    }

    /// How far below the root of the tree an area of this level lies.
    pub fn depth(self) -> usize {
        match self {
            AreaLevel::National => 0,
            AreaLevel::Region => 1,
            AreaLevel::Municipality => 2,
            AreaLevel::District => 3,
        }
    }

    /// The level that splits an area of this level: the one below it, or a district's own.
    pub fn split(self) -> AreaLevel {
        self.child().unwrap_or(AreaLevel::District)
    }

    /// The level of a new area under a parent of this level, if it may have children.
    pub fn child(self) -> Option<AreaLevel> {
        match self {
            AreaLevel::National => Some(AreaLevel::Region),
            AreaLevel::Region => Some(AreaLevel::Municipality),
            AreaLevel::Municipality => Some(AreaLevel::District),
            AreaLevel::District => None,
        }
    }
}

/// Area levels as stored, as text.
impl TryFrom<String> for AreaLevel {
    type Error = UnknownValue;
    fn try_from(text: String) -> Result<Self, UnknownValue> {
        text.parse().map_err(UnknownValue)
    }
}

impl FromStr for AreaLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "national" => Ok(AreaLevel::National),
            "region" => Ok(AreaLevel::Region),
            "municipality" => Ok(AreaLevel::Municipality),
            "district" => Ok(AreaLevel::District),
            other => Err(format!("unknown area level: {other}")),
        }
    }
}

/// Whether the area at `path` lies in the subtree rooted at `root` (itself included).
/// Paths look like `/vasterbotten/umea/centrum/`.
pub fn in_subtree(root: &str, path: &str) -> bool {
    path.starts_with(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_codes() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
        assert!("superuser".parse::<Role>().is_err());
    }

    #[test]
    fn usernames_are_case_insensitive_and_restricted() {
        assert_eq!(
            Username::parse("Anna.Berg@Umea").unwrap().as_str(),
            "anna.berg@umea"
        );
        for bad in [
            " anna",
            "\u{212a}elvin",
            "ab",
            "-anna",
            "anna berg",
            "anna\u{0}",
            "åsa",
            &"a".repeat(65),
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn area_codes_are_slugs() {
        assert!(AreaCode::parse("ostra-ersboda").is_ok());
        for bad in ["", "Umea", "östra", "a--b", "-a", "a-", "a b"] {
            assert!(AreaCode::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_subtree_contains_its_root_and_descendants_only() {
        assert!(in_subtree("/vasterbotten/umea/", "/vasterbotten/umea/"));
        assert!(in_subtree("/vasterbotten/umea/", "/vasterbotten/umea/teg/"));
        assert!(!in_subtree("/vasterbotten/umea/", "/vasterbotten/"));
        assert!(!in_subtree(
            "/stockholm/sollentuna/",
            "/vasterbotten/umea/teg/"
        ));
        assert!(in_subtree(ROOT_PATH, "/stockholm/sollentuna/"));
        assert!(in_subtree(ROOT_PATH, ROOT_PATH));
    }

    #[test]
    fn area_levels_round_trip_and_the_root_has_regions_below() {
        for level in [
            AreaLevel::National,
            AreaLevel::Region,
            AreaLevel::Municipality,
            AreaLevel::District,
        ] {
            assert_eq!(level.as_str().parse::<AreaLevel>(), Ok(level));
            assert_eq!(serde_json::to_value(level).unwrap(), level.as_str());
        }
        assert_eq!(AreaLevel::National.child(), Some(AreaLevel::Region));
    }
}
