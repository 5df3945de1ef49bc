//! Results apart from measurement: the result file type (a public contract), its storage
//! (atomic writes, run ids, listing) and the write-ahead journal of a run in progress.
//! `build` turns one iteration's measurements into a `RunResult`.

pub mod build;
pub mod groups;
pub mod ids;
pub mod journal;
pub mod result;
pub mod run_journal;
pub mod run_lock;
pub mod storage;
