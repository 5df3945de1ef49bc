//! Rendering: everything the user sees is written here, into a `Write` the caller passes in.
//! Renderers are pure functions of their input and a [`style::Style`].

pub mod compare;
pub mod export;
pub mod plan;
pub mod progress;
pub mod results;
pub mod style;
pub mod summary;
// ---- the live dashboard and the HTML report share one page ----
pub mod dashboard;
pub mod page;
pub mod report;
