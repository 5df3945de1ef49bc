//! Where the shared real-server captures live. Also compiled into the library's unit tests
//! (`src/runners/mod.rs` includes this file by path) so there is one copy of the lookup.

use std::path::{Path, PathBuf};

/// The real-server captures kept in the repository (`tests/fixtures`).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The bytes of `fixtures/protocols/<name>`, panicking with the path tried (tests only).
pub fn protocol_fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join("protocols").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}
