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

/// The new table and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdatedPricing {
    pub table: PriceTable,
    pub path: PathBuf,
}

/// Fetch the catalog, build the table dated `today`, write `<app_dir>/pricing.json`.
pub async fn update_pricing(
    settings: &RunpodSettings,
    app_dir: &Path,
    today: NaiveDate,
) -> Result<UpdatedPricing, UpdatePricingError> {
    let client = RunpodClient::new(settings)?;
    let gpus = client.gpu_catalog().await?;
    let table = table_from_catalog(&gpus, today);
    if table.gpus.is_empty() {
        return Err(UpdatePricingError::EmptyCatalog);
    }
    let path = table.save(app_dir)?;
    Ok(UpdatedPricing { table, path })
}

/// Map catalog entries to price rows: our short name where the id is in the built-in table
/// (configs keep working), else the catalog's display name (its id when that name is taken).
/// A price is kept only where the type is offered on that cloud and the price is positive.
pub fn table_from_catalog(gpus: &[GpuType], today: NaiveDate) -> PriceTable {
    let builtin = PriceTable::builtin();
    let mut used = HashSet::new();
    let mut rows = Vec::new();
    for g in gpus {
        if g.id.trim().is_empty() {
            continue;
        }
        let known = builtin.gpus.iter().find(|b| b.runpod_id == g.id);
        let mut name = match known {
            Some(b) => b.name.clone(),
            None if !g.name.trim().is_empty() => g.name.trim().to_string(),
            None => g.id.clone(),
        };
        if !used.insert(name.to_ascii_lowercase()) {
            name = g.id.clone();
            if !used.insert(name.to_ascii_lowercase()) {
                continue; // duplicate id in the catalog
            }
        }
        let offered = |on: bool, p: Option<f64>| p.filter(|&p| on && p > 0.0 && p.is_finite());
        rows.push(GpuPrice {
            name,
            runpod_id: g.id.clone(),
            memory_gb: if g.memory > 0 {
                g.memory
            } else {
                known.map(|b| b.memory_gb).unwrap_or(0)
            },
            community: offered(g.community, g.price.community),
            secure: offered(g.secure, g.price.secure),
        });
    }
    PriceTable {
        last_updated: today,
        source: CATALOG_SOURCE.to_string(),
        gpus: rows,
    }
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
        let t = table_from_catalog(&gpus, today);
        assert_eq!(t.last_updated, today);
        assert_eq!(t.source, CATALOG_SOURCE);
        let names: Vec<_> = t.known_names();
        assert_eq!(names, ["RTX-4090", "RTX A4500", "NVIDIA RTX A4500 Other"]);
        assert_eq!(t.gpus[0].community, Some(0.31));
        assert_eq!(t.gpus[1].secure, None);
        assert_eq!(t.gpus[2].community, None);
    }
}
