//! The runner's SSE stream core: any bytes, handed over in pieces of any size, end in a
//! classified reading (never a panic, never unbounded memory), with increasing token stamps.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the piece size (0 = whole body), the rest is the body.
    let Some((&piece, body)) = data.split_first() else {
        return;
    };
    llm_inf_bench::runners::fuzzing::read_sse(body, usize::from(piece));
});
