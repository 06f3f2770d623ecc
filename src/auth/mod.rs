//! Who a caller is and what they may do: passwords (argon2), session tokens (JWT) and
//! API-token secrets, the permission matrix, and the [`Principal`] that the rooms
//! above see. Loading a caller from a request is the HTTP edge's work
//! (`crate::http::caller`); sign-in and sessions are a service (`crate::services::sessions`).

pub mod jwt;
pub mod password;
pub mod permissions;
pub mod principal;
pub mod secrets;

pub use permissions::Permission;
pub use principal::Principal;
