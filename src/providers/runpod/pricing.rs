//! GPU price table: the built-in one (with its date) and, when present, the one refreshed by
//! `update-pricing` in the app directory. Prices are USD per GPU per hour.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::config::CloudType;

/// The refreshed table written by `update-pricing`, in the app directory.
pub const PRICING_FILE: &str = "pricing.json";

/// One GPU type: our short name (used in configs), RunPod's exact id, and prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuPrice {
    /// Short name used in experiment configs, e.g. `A100-80GB`.
    pub name: String,
    /// RunPod's GPU type id, e.g. `NVIDIA A100 80GB PCIe`.
    pub runpod_id: String,
    pub memory_gb: u32,
    /// $/hr per GPU; `None` where that cloud does not offer the type.
    pub community: Option<f64>,
    pub secure: Option<f64>,
    /// When this row's prices were last refreshed, where it differs from the table's date
    /// (a type the latest catalog did not list keeps its older price and date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceTable {
    pub last_updated: NaiveDate,
    /// `builtin` or `runpod catalog` (after `update-pricing`).
    pub source: String,
    pub gpus: Vec<GpuPrice>,
}

/// Warn when prices are older than this.
pub const STALE_AFTER_DAYS: i64 = 30;

const BUILTIN_DATE: (i32, u32, u32) = (2026, 11, 1);

/// (name, runpod id, memory GB, community $/hr, secure $/hr)
type BuiltinRow = (&'static str, &'static str, u32, Option<f64>, Option<f64>);

const BUILTIN: &[BuiltinRow] = &[
    (
        "RTX-4090",
        "NVIDIA GeForce RTX 4090",
        24,
        Some(0.34),
        Some(0.69),
    ),
    (
        "RTX-5090",
        "NVIDIA GeForce RTX 5090",
        32,
        Some(0.69),
        Some(0.94),
    ),
    ("RTX-A6000", "NVIDIA RTX A6000", 48, Some(0.33), Some(0.49)),
    (
        "RTX-6000-ADA",
        "NVIDIA RTX 6000 Ada Generation",
        48,
        Some(0.74),
        Some(0.77),
    ),
    ("L4", "NVIDIA L4", 24, None, Some(0.43)),
    ("L40S", "NVIDIA L40S", 48, Some(0.79), Some(0.86)),
    ("A40", "NVIDIA A40", 48, None, Some(0.40)),
    (
        "A100-80GB",
        "NVIDIA A100 80GB PCIe",
        80,
        Some(1.19),
        Some(1.64),
    ),
    (
        "A100-SXM-80GB",
        "NVIDIA A100-SXM4-80GB",
        80,
        Some(1.39),
        Some(1.74),
    ),
    ("H100-PCIE", "NVIDIA H100 PCIe", 80, Some(1.99), Some(2.39)),
    (
        "H100-80GB",
        "NVIDIA H100 80GB HBM3",
        80,
        Some(2.69),
        Some(2.99),
    ),
    ("H100-NVL", "NVIDIA H100 NVL", 94, Some(2.59), Some(2.79)),
    ("H200", "NVIDIA H200", 141, None, Some(3.59)),
    ("B200", "NVIDIA B200", 180, None, Some(5.99)),
    ("MI300X", "AMD Instinct MI300X OAM", 192, None, Some(2.49)),
];

impl GpuPrice {
    /// $/hr for one GPU on `cloud`; `None` where that cloud does not offer the type.
    pub fn price(&self, cloud: CloudType) -> Option<f64> {
        match cloud {
            CloudType::Community => self.community,
            CloudType::Secure => self.secure,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PricingFileError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a valid price table: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

impl PriceTable {
    /// `<app_dir>/pricing.json` when present and valid, else the built-in table (a broken
    /// file is logged, never fatal: `update-pricing` rewrites it).
    pub fn load(app_dir: &Path) -> Self {
        match Self::load_file(&app_dir.join(PRICING_FILE)) {
            Ok(Some(t)) => t,
            Ok(None) => Self::builtin(),
            Err(e) => {
                tracing::warn!("{e}; using the built-in price table");
                Self::builtin()
            }
        }
    }

    /// `Ok(None)` when the file does not exist.
    pub fn load_file(path: &Path) -> Result<Option<Self>, PricingFileError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(PricingFileError::Io {
                    action: "read",
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let invalid = |message: String| PricingFileError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let table: PriceTable = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        if table.gpus.is_empty() {
            return Err(invalid("no GPU types".into()));
        }
        Ok(Some(table))
    }

    /// Write atomically to `<app_dir>/pricing.json`; returns the path.
    pub fn save(&self, app_dir: &Path) -> Result<PathBuf, PricingFileError> {
        let path = app_dir.join(PRICING_FILE);
        let io = |action, source| PricingFileError::Io {
            action,
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(app_dir).map_err(|e| io("create the directory of", e))?;
        let json = serde_json::to_vec_pretty(self).map_err(|e| PricingFileError::Invalid {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let mut tmp = tempfile::NamedTempFile::new_in(app_dir).map_err(|e| io("write", e))?;
        std::io::Write::write_all(&mut tmp, &json).map_err(|e| io("write", e))?;
        tmp.persist(&path).map_err(|e| io("replace", e.error))?;
        Ok(path)
    }

    pub fn builtin() -> Self {
        let (y, m, d) = BUILTIN_DATE;
        Self {
            last_updated: NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default(),
            source: "builtin".to_string(),
            gpus: BUILTIN
                .iter()
                .map(|&(name, id, mem, community, secure)| GpuPrice {
                    name: name.to_string(),
                    runpod_id: id.to_string(),
                    memory_gb: mem,
                    community,
                    secure,
                    updated: None,
                })
                .collect(),
        }
    }

    /// Look a GPU up by short name (case-insensitive) or by RunPod id.
    pub fn lookup(&self, gpu_type: &str) -> Option<&GpuPrice> {
        self.gpus.iter().find(|g| {
            g.name.eq_ignore_ascii_case(gpu_type) || g.runpod_id.eq_ignore_ascii_case(gpu_type)
        })
    }

    /// When `gpu`'s prices were last refreshed.
    pub fn date_of(&self, gpu: &GpuPrice) -> NaiveDate {
        gpu.updated.unwrap_or(self.last_updated)
    }

    pub fn known_names(&self) -> Vec<&str> {
        self.gpus.iter().map(|g| g.name.as_str()).collect()
    }

    pub fn age_days(&self, today: NaiveDate) -> i64 {
        (today - self.last_updated).num_days()
    }

    pub fn is_stale(&self, today: NaiveDate) -> bool {
        self.age_days(today) > STALE_AFTER_DAYS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_short_name_or_runpod_id() {
        let t = PriceTable::builtin();
        let a = t.lookup("a100-80gb").map(|g| g.runpod_id.clone());
        assert_eq!(a.as_deref(), Some("NVIDIA A100 80GB PCIe"));
        assert!(t.lookup("NVIDIA H100 80GB HBM3").is_some());
        assert!(t.lookup("TPU-v5").is_none());
    }

    #[test]
    fn load_prefers_a_valid_file_and_falls_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(PriceTable::load(dir.path()), PriceTable::builtin());
        let mut t = PriceTable::builtin();
        t.source = "runpod catalog".into();
        t.gpus.truncate(2);
        t.save(dir.path()).unwrap();
        assert_eq!(PriceTable::load(dir.path()), t);
        std::fs::write(dir.path().join(PRICING_FILE), "[]").unwrap();
        assert_eq!(PriceTable::load(dir.path()), PriceTable::builtin());
    }

    #[test]
    fn staleness_after_thirty_days() {
        let t = PriceTable::builtin();
        let fresh = t.last_updated + chrono::Duration::days(30);
        let stale = t.last_updated + chrono::Duration::days(31);
        assert!(!t.is_stale(fresh));
        assert!(t.is_stale(stale));
    }
}
