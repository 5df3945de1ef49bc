//! vLLM: `/health` answers 200 once the engine is up; probed every 5 s.

use super::openai::Flavor;
use crate::config::Framework;

pub fn flavor() -> Flavor {
    Flavor {
        framework: Framework::Vllm,
        continuous_usage: false,
        health_path: "/health",
    }
}
