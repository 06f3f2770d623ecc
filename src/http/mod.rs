//! The HTTP edge's shared helpers: how bodies are written for clients.

pub mod csv;
