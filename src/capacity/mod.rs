//! Engine-level answers: the capacity search (probes on one server, bisection to a
//! precision) and repeated iterations with their repeat-set summary.

pub mod probe;
pub mod repeat;
pub mod search;
