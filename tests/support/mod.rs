//! Shared helpers for integration tests (`mod support;` in a test file).
#![allow(dead_code)]

pub mod fixtures;
pub mod stream_server;
