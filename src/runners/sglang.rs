//! SGLang: `/health` is 503 during warm-up, 200 after; probed every 10 s.

use super::openai::Flavor;
use crate::config::Framework;

pub fn flavor() -> Flavor {
    Flavor {
        framework: Framework::Sglang,
        health_path: "/health",
    }
}
