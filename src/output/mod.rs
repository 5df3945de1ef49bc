//! Rendering: everything the user sees is written here, into a `Write` the caller passes in.
//! Renderers are pure functions of their input and a [`style::Style`].

pub mod compare;
pub mod export;
pub mod open_loop;
pub mod plan;
pub mod progress;
pub mod results;
pub mod style;
pub mod summary;
