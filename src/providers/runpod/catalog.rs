//! `update-pricing`: fetch `GET /v2/catalog/gpus` and turn it into our price table, written to
//! `<app_dir>/pricing.json` (read back by `PriceTable::load`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::client::RunpodClient;
use super::error::RunpodError;
use super::model::GpuType;
use super::pricing::{GpuPrice, PriceTable, PricingFileError};
use super::settings::RunpodSettings;
use crate::config::CloudType;
use crate::text::printable;

pub const CATALOG_SOURCE: &str = "runpod catalog";

#[derive(Debug, thiserror::Error)]
pub enum UpdatePricingError {
    #[error(transparent)]
    Api(#[from] RunpodError),
    #[error("the RunPod GPU catalog is empty; keeping the current price table")]
    EmptyCatalog,
    #[error(transparent)]
    File(#[from] PricingFileError),
}

/// Highest believable price per GPU-hour; a catalog price above it (or at or below zero) is a
/// mistake in the catalog and is not used.
pub const MAX_PRICE_PER_GPU_HOUR: f64 = 1000.0;

/// The new table, where it was written, and what the merge did.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdatedPricing {
    pub table: PriceTable,
    pub path: PathBuf,
    /// Rows refreshed from the catalog.
    pub from_catalog: usize,
    /// Rows the catalog did not list, kept from the previous table with their price and date.
    pub kept: usize,
    /// Catalog prices refused as absurd.
    pub refused: Vec<RefusedPrice>,
}

/// A catalog price outside (0, [`MAX_PRICE_PER_GPU_HOUR`]] on a cloud that offers the type.
#[derive(Debug, Clone, PartialEq)]
pub struct RefusedPrice {
    /// Our name for the type (control characters removed).
    pub name: String,
    pub runpod_id: String,
    pub cloud: CloudType,
    pub price: f64,
}

impl std::fmt::Display for RefusedPrice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} cloud): the catalog price ${}/GPU-hour is not believable (must be above $0 \
             and at most ${MAX_PRICE_PER_GPU_HOUR}); not used",
            self.name,
            self.cloud.as_str(),
            self.price
        )
    }
}

/// Fetch the catalog, merge it into the current table (the app dir's, else the built-in one)
/// dated `today`, write `<app_dir>/pricing.json`.
pub async fn update_pricing(
    settings: &RunpodSettings,
    app_dir: &Path,
    today: NaiveDate,
) -> Result<UpdatedPricing, UpdatePricingError> {
    let client = RunpodClient::new(settings)?;
    let gpus = client.gpu_catalog().await?;
    let current = PriceTable::load(app_dir);
    let merged = merge_catalog(&current, &gpus, today);
    if merged.from_catalog == 0 {
        return Err(UpdatePricingError::EmptyCatalog);
    }
    let path = merged.table.save(app_dir)?;
    Ok(UpdatedPricing { path, ..merged })
}

/// The catalog's rows (see [`table_from_catalog`]) followed by the rows of `current` whose
/// RunPod id the catalog lacks, each keeping its price and its date. Where a catalog price is
/// refused, the current table's price for that type and cloud stays.
pub fn merge_catalog(current: &PriceTable, gpus: &[GpuType], today: NaiveDate) -> UpdatedPricing {
    let (mut table, refused) = table_from_catalog(gpus, today);
    for r in &refused {
        let old = current.gpus.iter().find(|o| o.runpod_id == r.runpod_id);
        let row = table.gpus.iter_mut().find(|g| g.runpod_id == r.runpod_id);
        if let (Some(old), Some(row)) = (old, row) {
            match r.cloud {
                CloudType::Community => row.community = old.community,
                CloudType::Secure => row.secure = old.secure,
            }
        }
    }
    let from_catalog = table.gpus.len();
    let mut names: HashSet<String> = table
        .gpus
        .iter()
        .map(|g| g.name.to_ascii_lowercase())
        .collect();
    for old in &current.gpus {
        let listed = table.gpus.iter().any(|g| g.runpod_id == old.runpod_id);
        if listed || !names.insert(old.name.to_ascii_lowercase()) {
            continue;
        }
        table.gpus.push(GpuPrice {
            updated: Some(current.date_of(old)),
            ..old.clone()
        });
    }
    let kept = table.gpus.len() - from_catalog;
    UpdatedPricing {
        table,
        path: PathBuf::new(),
        from_catalog,
        kept,
        refused,
    }
}

/// Map catalog entries to price rows: our short name where the id is in the built-in table
/// (configs keep working), else the catalog's display name (its id when that name is taken);
/// names and ids lose any control characters. A price is kept only where the type is offered
/// on that cloud and the price is believable (above 0, at most [`MAX_PRICE_PER_GPU_HOUR`]);
/// an offered type with any other price is returned as refused.
pub fn table_from_catalog(gpus: &[GpuType], today: NaiveDate) -> (PriceTable, Vec<RefusedPrice>) {
    let builtin = PriceTable::builtin();
    let mut used = HashSet::new();
    let mut rows = Vec::new();
    let mut refused = Vec::new();
    for g in gpus {
        let id = printable(g.id.trim()).into_owned();
        if id.is_empty() {
            continue;
        }
        let known = builtin.gpus.iter().find(|b| b.runpod_id == id);
        let display = printable(g.name.trim()).into_owned();
        let mut name = match known {
            Some(b) => b.name.clone(),
            None if !display.is_empty() => display,
            None => id.clone(),
        };
        if !used.insert(name.to_ascii_lowercase()) {
            name = id.clone();
            if !used.insert(name.to_ascii_lowercase()) {
                continue; // duplicate id in the catalog
            }
        }
        let mut offered = |cloud: CloudType, on: bool, p: Option<f64>| {
            let p = p.filter(|_| on)?;
            if p > 0.0 && p <= MAX_PRICE_PER_GPU_HOUR {
                return Some(p);
            }
            refused.push(RefusedPrice {
                name: name.clone(),
                runpod_id: id.clone(),
                cloud,
                price: p,
            });
            None
        };
        let community = offered(CloudType::Community, g.community, g.price.community);
        let secure = offered(CloudType::Secure, g.secure, g.price.secure);
        rows.push(GpuPrice {
            name,
            runpod_id: id,
            memory_gb: if g.memory > 0 {
                g.memory
            } else {
                known.map(|b| b.memory_gb).unwrap_or(0)
            },
            community,
            secure,
            updated: None,
        });
    }
    let table = PriceTable {
        last_updated: today,
        source: CATALOG_SOURCE.to_string(),
        gpus: rows,
    };
    (table, refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_short_names_and_uses_catalog_names_otherwise() {
        let gpus: Vec<GpuType> = serde_json::from_value(serde_json::json!([
            {"id":"NVIDIA GeForce RTX 4090","name":"RTX 4090","memory":24,"secure":true,"community":true,
             "price":{"secure":0.44,"community":0.31}},
            {"id":"NVIDIA  RTX A4500","name":"RTX A4500","memory":20,"secure":false,"community":true,
             "price":{"secure":0.0,"community":0.19}},
            {"id":"NVIDIA RTX A4500 Other","name":"RTX A4500","memory":20,"secure":true,"community":false,
             "price":{"secure":0.25,"community":0.2}}
        ]))
        .unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let (t, refused) = table_from_catalog(&gpus, today);
        assert!(refused.is_empty(), "{refused:?}");
        assert_eq!(t.last_updated, today);
        assert_eq!(t.source, CATALOG_SOURCE);
        let names: Vec<_> = t.known_names();
        assert_eq!(names, ["RTX-4090", "RTX A4500", "NVIDIA RTX A4500 Other"]);
        assert_eq!(t.gpus[0].community, Some(0.31));
        assert_eq!(t.gpus[1].secure, None);
        assert_eq!(t.gpus[2].community, None);
    }

    fn catalog(json: serde_json::Value) -> Vec<GpuType> {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn merge_keeps_types_the_catalog_lacks_with_their_price_and_date() {
        let current = PriceTable::builtin();
        let today = current.last_updated + chrono::Duration::days(40);
        let gpus = catalog(serde_json::json!([
            {"id":"NVIDIA A100 80GB PCIe","name":"A100 80GB","memory":80,"secure":true,
             "community":true,"price":{"secure":1.5,"community":1.1}}
        ]));
        let m = merge_catalog(&current, &gpus, today);
        assert_eq!((m.from_catalog, m.kept), (1, current.gpus.len() - 1));
        assert_eq!(m.table.gpus.len(), current.gpus.len());
        let a100 = m.table.lookup("A100-80GB").unwrap();
        assert_eq!((a100.community, m.table.date_of(a100)), (Some(1.1), today));
        let h100 = m.table.lookup("H100-80GB").unwrap();
        let before = current.lookup("H100-80GB").unwrap();
        assert_eq!(h100.community, before.community);
        assert_eq!(h100.secure, before.secure);
        assert_eq!(m.table.date_of(h100), current.last_updated);
        // A second merge keeps the kept row's original date.
        let again = merge_catalog(&m.table, &gpus, today + chrono::Duration::days(1));
        let h100 = again.table.lookup("H100-80GB").unwrap();
        assert_eq!(again.table.date_of(h100), current.last_updated);
    }

    #[test]
    fn absurd_prices_are_refused_with_a_warning_and_the_old_price_stays() {
        let current = PriceTable::builtin();
        let today = current.last_updated;
        let gpus = catalog(serde_json::json!([
            {"id":"NVIDIA A100 80GB PCIe","name":"A100","memory":80,"secure":true,
             "community":true,"price":{"secure":-2.0,"community":5000.0}},
            {"id":"New\u{1b}[2JGPU","name":"Shiny\u{1b}]0;x\u{7} GPU","memory":8,"secure":true,
             "community":false,"price":{"secure":0.0,"community":0.0}}
        ]));
        let m = merge_catalog(&current, &gpus, today);
        let texts: Vec<String> = m.refused.iter().map(ToString::to_string).collect();
        assert_eq!(texts.len(), 3, "{texts:?}");
        assert!(texts[0].contains("A100-80GB (community cloud)") && texts[0].contains("$5000"));
        assert!(texts[1].contains("(secure cloud)") && texts[1].contains("$-2"));
        assert!(texts.iter().all(|t| !t.contains('\u{1b}')), "{texts:?}");
        let before = current.lookup("A100-80GB").unwrap();
        let a100 = m.table.lookup("A100-80GB").unwrap();
        assert_eq!(
            (a100.community, a100.secure),
            (before.community, before.secure)
        );
        let shiny = m.table.lookup("Shiny GPU").unwrap();
        assert_eq!((shiny.runpod_id.as_str(), shiny.secure), ("NewGPU", None));
    }
}
