//! RunPod: REST v2 client, price table, launch templates, the provider itself, the pod ledger,
//! cost estimates and the `server`/`update-pricing` helpers.

pub mod catalog;
pub mod client;
pub mod cost;
pub mod error;
pub mod ledger;
pub mod model;
pub mod pricing;
pub mod provider;
pub mod servers;
pub mod settings;
pub mod templates;

pub use catalog::{update_pricing, UpdatePricingError, UpdatedPricing};
pub use client::{CreatedPod, RunpodClient, Termination};
pub use cost::{estimate, needs_confirmation, CostEstimate};
pub use error::{Problem, RunpodError};
pub use ledger::{Ledger, LedgerError, PodRecord};
pub use pricing::PriceTable;
pub use provider::{PollSettings, RunpodProvider};
pub use servers::{server_status, server_stop, PodStatusRow, ServerCommandError};
pub use settings::{RetryPolicy, RunpodSettings, Secret};
pub use templates::{server_command, LaunchCommand};
