//! The Prometheus text parser and everything the scraper does with its output.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    llm_inf_bench::metrics::fuzzing::prometheus(data);
});
