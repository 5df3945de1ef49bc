//! SGLang: `/health` is 503 during warm-up, 200 after; probed every 10 s. Its detokenizer
//! merges tokens, so one chunk may carry several: the request asks for the running usage on
//! every chunk (`continuous_usage_stats`) to record how many. It answers requests for any
//! model name, so the model check also reads `/model_info` (see `openai::check_model`).

use super::openai::Flavor;
use crate::config::Framework;

pub fn flavor() -> Flavor {
    Flavor {
        framework: Framework::Sglang,
        health_path: "/health",
        continuous_usage: true,
    }
}
