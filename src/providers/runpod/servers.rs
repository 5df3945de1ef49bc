//! `server status` / `server stop`: pods this tool started, from the ledger and the API.

use super::client::{RunpodClient, Termination};
use super::error::RunpodError;
use super::ledger::{Ledger, LedgerError, PodRecord};
use super::model::Pod;
use super::settings::RunpodSettings;
use super::templates::POD_NAME_PREFIX;

/// One row of `server status`.
#[derive(Debug, Clone, PartialEq)]
pub struct PodStatusRow {
    pub pod_id: String,
    pub name: String,
    /// From the ledger; `None` for a pod found on the account by its name prefix only.
    pub run_name: Option<String>,
    pub gpu_type: Option<String>,
    /// RunPod status (`RUNNING`, ...) or `GONE` when the API no longer knows the pod.
    pub status: String,
    pub gone: bool,
    /// Live $/hr from the API, else the one recorded at creation.
    pub cost_per_hr: Option<f64>,
    pub created_at: Option<String>,
    /// Recorded in the ledger (false: found on the account by name prefix only).
    pub recorded: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerCommandError {
    #[error(transparent)]
    Api(#[from] RunpodError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// Ledger entries with their live status, plus unrecorded `llm-inf-bench-*` pods on the
/// account. Entries the API no longer knows are reported as gone and dropped from the ledger.
/// A corrupt ledger is an error (the CLI shows it; `record` would set it aside).
pub async fn server_status(
    settings: &RunpodSettings,
    ledger: &Ledger,
) -> Result<Vec<PodStatusRow>, ServerCommandError> {
    let client = RunpodClient::new(settings)?;
    let records = ledger.load()?;
    let live = client.list_pods().await?;
    let mut rows = Vec::new();
    let api_root = settings.api_url.trim().trim_end_matches('/');
    for rec in &records {
        if rec.api_url.trim().trim_end_matches('/') != api_root {
            // Created through another API root (e.g. a test fake): not ours to judge.
            rows.push(PodStatusRow {
                status: format!("UNKNOWN (created via {})", rec.api_url),
                ..recorded_row(rec)
            });
            continue;
        }
        let pod = match live.iter().find(|p| p.id == rec.pod_id) {
            Some(p) => Some(p.clone()),
            // Not listed: confirm with a direct lookup before declaring it gone.
            None => match client.get_pod(&rec.pod_id).await {
                Ok(p) => Some(p),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e.into()),
            },
        };
        let live_pod = pod
            .as_ref()
            .filter(|p| p.status != super::model::PodStatus::Terminated);
        if live_pod.is_none() {
            if let Err(e) = ledger.remove(&rec.pod_id) {
                tracing::warn!("{e}");
            }
        }
        rows.push(PodStatusRow {
            status: live_pod.map_or("GONE".to_string(), |p| p.status.to_string()),
            gone: live_pod.is_none(),
            cost_per_hr: live_pod.and_then(|p| p.cost).or(rec.cost_per_hr),
            ..recorded_row(rec)
        });
    }
    for pod in live.iter().filter(|p| {
        p.name.starts_with(POD_NAME_PREFIX) && !records.iter().any(|r| r.pod_id == p.id)
    }) {
        rows.push(unrecorded_row(pod));
    }
    Ok(rows)
}

/// A ledger entry's row before its live status is known.
fn recorded_row(rec: &PodRecord) -> PodStatusRow {
    PodStatusRow {
        pod_id: rec.pod_id.clone(),
        name: rec.name.clone(),
        run_name: Some(rec.run_name.clone()),
        gpu_type: Some(rec.gpu_type.clone()),
        status: String::new(),
        gone: false,
        cost_per_hr: rec.cost_per_hr,
        created_at: Some(rec.created_at.to_rfc3339()),
        recorded: true,
    }
}

fn unrecorded_row(pod: &Pod) -> PodStatusRow {
    PodStatusRow {
        pod_id: pod.id.clone(),
        name: pod.name.clone(),
        run_name: None,
        gpu_type: pod.gpu.as_ref().map(|g| g.id.clone()),
        status: pod.status.to_string(),
        gone: false,
        cost_per_hr: pod.cost,
        created_at: pod.created_at.clone(),
        recorded: false,
    }
}

/// Terminate one pod and drop it from the ledger (an already-gone pod is success too).
pub async fn server_stop(
    settings: &RunpodSettings,
    ledger: &Ledger,
    pod_id: &str,
) -> Result<Termination, ServerCommandError> {
    let client = RunpodClient::new(settings)?;
    let outcome = client.terminate_pod(pod_id).await?;
    ledger.remove(pod_id)?;
    Ok(outcome)
}
