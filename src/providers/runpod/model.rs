//! REST v2 wire types (the parts we use), following `openapi-v2.json`. Responses are read
//! leniently (unknown fields ignored, missing optional fields defaulted) so a new API field
//! never breaks a run; the create body is strict (it must match `CreatePodRequest`).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// `PodStatus`. Anything new maps to `Unknown` rather than failing the poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PodStatus {
    Provisioning,
    Starting,
    Running,
    Exited,
    Error,
    Terminated,
    #[serde(other)]
    Unknown,
}

impl PodStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PodStatus::Provisioning => "PROVISIONING",
            PodStatus::Starting => "STARTING",
            PodStatus::Running => "RUNNING",
            PodStatus::Exited => "EXITED",
            PodStatus::Error => "ERROR",
            PodStatus::Terminated => "TERMINATED",
            PodStatus::Unknown => "UNKNOWN",
        }
    }

    /// The pod will not reach RUNNING by waiting.
    pub fn is_dead(self) -> bool {
        matches!(
            self,
            PodStatus::Exited | PodStatus::Error | PodStatus::Terminated
        )
    }
}

impl std::fmt::Display for PodStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuConfig {
    pub id: String,
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// A `Pod` as returned by create, get and list.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default = "unknown_status")]
    pub status: PodStatus,
    #[serde(default)]
    pub gpu: Option<GpuConfig>,
    /// USD per hour for the whole pod (0 when stopped). The v1 API sent numbers as strings;
    /// accept both.
    #[serde(default, deserialize_with = "number_or_string")]
    pub cost: Option<f64>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub image: Option<String>,
}

fn unknown_status() -> PodStatus {
    PodStatus::Unknown
}

fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

#[derive(Debug, Clone, Deserialize)]
pub struct ListPodsResponse {
    #[serde(default)]
    pub pods: Vec<Pod>,
}

/// `GpuType.price`: USD/h for one GPU.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct GpuTypePrice {
    #[serde(default, deserialize_with = "number_or_string")]
    pub secure: Option<f64>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub community: Option<f64>,
}

/// One entry of `GET /v2/catalog/gpus`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GpuType {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub memory: u32,
    /// Offered on secure / community cloud.
    #[serde(default)]
    pub secure: bool,
    #[serde(default)]
    pub community: bool,
    #[serde(default)]
    pub price: GpuTypePrice,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ListGpuTypesResponse {
    #[serde(default)]
    pub gpus: Vec<GpuType>,
}

/// `Cloud`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Cloud {
    Secure,
    Community,
}

/// `CreateGpuConfig` (without the CUDA constraints we never set).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateGpu {
    pub id: String,
    pub count: u32,
}

/// `CreatePodRequest`: only fields the schema defines, with its types. `Debug` shows env
/// names only (values can be tokens).
#[derive(Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePodRequest {
    pub name: String,
    pub image: String,
    /// One string handed to the image's ENTRYPOINT (see `templates::args_string`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<String>,
    pub gpu: CreateGpu,
    pub cloud: Cloud,
    /// Container disk, GB.
    pub disk: u32,
    pub ports: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

impl std::fmt::Debug for CreatePodRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatePodRequest")
            .field("name", &self.name)
            .field("image", &self.image)
            .field(
                "args",
                &self.args.as_deref().map(|a| {
                    let words: Vec<String> = a.split(' ').map(String::from).collect();
                    crate::redact::redact_args(&words).join(" ")
                }),
            )
            .field("gpu", &self.gpu)
            .field("cloud", &self.cloud)
            .field("disk", &self.disk)
            .field("ports", &self.ports)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_reads_the_spec_example_and_tolerates_gaps() {
        let p: Pod = serde_json::from_str(
            r#"{"id":"7h9k2m4n6p","name":"x","status":"PROVISIONING","gpu":{"id":"NVIDIA GeForce RTX 4090","count":1},"cost":0.44,"createdAt":"2026-06-01T12:00:00Z","runtime":{}}"#,
        )
        .unwrap();
        assert_eq!(p.status, PodStatus::Provisioning);
        assert_eq!(p.cost, Some(0.44));
        let p: Pod =
            serde_json::from_str(r#"{"id":"a","status":"HIBERNATING","cost":"0.74"}"#).unwrap();
        assert_eq!(p.status, PodStatus::Unknown);
        assert_eq!(p.cost, Some(0.74));
    }
}
