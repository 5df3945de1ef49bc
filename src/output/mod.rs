//! Rendering: everything the user sees is written here, into a `Write` the caller passes in.
//! Renderers are pure functions of their input and a [`style::Style`].

pub mod answers;
pub mod compare;
pub mod errors;
pub mod export;
pub mod matrix;
pub mod open_loop;
pub mod plan;
pub mod plan_warnings;
pub mod progress;
pub mod results;
pub mod server_plan;
pub mod style;
pub mod summary;
pub mod sweep_table;
pub mod verdicts;
// ---- the live dashboard and the HTML report share one page ----
pub mod dashboard;
pub mod page;
pub mod report;
