//! Shared helpers for integration tests (`mod support;` in a test file).
#![allow(dead_code)]

pub mod fixtures;
pub mod raw_server;
pub mod stream_server;
