//! The HTTP edge shared by every route: who is calling ([`caller`]), JSON bodies
//! ([`json`]) and uploads ([`upload`]), headers with rules ([`headers`]), paging
//! ([`pagination`]) and checks made before routing ([`middleware`]).

pub mod caller;
pub mod headers;
pub mod json;
pub mod middleware;
pub mod pagination;
pub mod upload;
