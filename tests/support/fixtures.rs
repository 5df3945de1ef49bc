//! Where the shared real-server captures live. Also compiled into the library's unit tests
//! (`src/runners/mod.rs` includes this file by path) so there is one copy of the lookup.

use std::path::{Path, PathBuf};

/// `shared/fixtures`: beside the worktree when there is one, else the shared checkout.
pub fn fixtures_dir() -> PathBuf {
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    if beside.is_dir() {
        beside
    } else {
        PathBuf::from("/work/shared/fixtures")
    }
}

/// The bytes of `fixtures/protocols/<name>`, panicking with the path tried (tests only).
pub fn protocol_fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join("protocols").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}
