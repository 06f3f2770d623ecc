//! The cube packed for bulk reading: the block format ([`block`], pure), keeping blocks
//! in step with the cells and reading a request's cube from them ([`store`]), and the
//! cache of export digests computed from them ([`digests`]).

pub mod block;
pub mod digests;
pub mod store;
