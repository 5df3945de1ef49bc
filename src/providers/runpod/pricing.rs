//! GPU price table: the built-in one (with its date) and, when present, the one refreshed by
//! `update-pricing` in the app directory. Prices are USD per GPU per hour.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

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
const BUILTIN: &[(&str, &str, u32, Option<f64>, Option<f64>)] = &[
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

impl PriceTable {
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
    fn staleness_after_thirty_days() {
        let t = PriceTable::builtin();
        let fresh = t.last_updated + chrono::Duration::days(30);
        let stale = t.last_updated + chrono::Duration::days(31);
        assert!(!t.is_stale(fresh));
        assert!(t.is_stale(stale));
    }
}
