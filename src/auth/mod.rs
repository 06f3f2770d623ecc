//! Authentication and authorisation: passwords, session and API tokens, the permission
//! matrix, and the extractors that put both into handler signatures.

pub mod extract;
pub mod jwt;
pub mod password;
pub mod permissions;
pub mod secrets;
pub mod sessions;

pub use extract::{Authenticated, Authorized, Principal};
pub use permissions::Permission;
