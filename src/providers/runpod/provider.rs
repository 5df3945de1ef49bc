//! `RunpodProvider`: create a pod for the run, record it in the ledger, wait until RUNNING,
//! hand back the proxy URL; teardown terminates every pod it created or adopted.
//!
//! The create call runs in its own task that records the pod (ledger + our list) the moment
//! RunPod answers with an id. Cancelling `provision` therefore returns at once without losing
//! a pod whose creation was in flight: `teardown` waits for that task and terminates the pod.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::client::{CreatedPod, RunpodClient, Termination};
use super::error::RunpodError;
use super::ledger::{Ledger, PodRecord};
use super::model::{Cloud, CreatePodRequest, Pod, PodStatus};
use super::pricing::PriceTable;
use super::settings::{RunpodSettings, Secret};
use super::templates::{self, SERVER_PORT};
use crate::config::{CloudType, Experiment};
use crate::events::{Event, EventSink};
use crate::providers::{Provider, ProviderError, ServerHandle};

/// How often and how long to wait for a pod to reach RUNNING.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollSettings {
    pub interval: Duration,
    pub timeout: Duration,
}

impl Default for PollSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(20 * 60),
        }
    }
}

/// Consecutive 404s on a pod we created before we call it gone (the API may lag a moment).
const MAX_NOT_FOUND: u32 = 3;

type CreateTask = JoinHandle<Result<CreatedPod, RunpodError>>;

#[derive(Debug)]
pub struct RunpodProvider {
    settings: RunpodSettings,
    client: RunpodClient,
    ledger: Ledger,
    prices: PriceTable,
    poll: PollSettings,
    run_name: Option<String>,
    hf_token: Option<Secret>,
    /// Ids of pods created or adopted and not yet confirmed terminated (shared with the
    /// create task).
    pods: Arc<Mutex<Vec<String>>>,
    pending_create: Option<CreateTask>,
}

impl RunpodProvider {
    /// `HF_TOKEN` is taken from the environment when set (gated models); see `with_hf_token`.
    pub fn new(
        settings: RunpodSettings,
        app_dir: &Path,
        prices: PriceTable,
        poll: PollSettings,
    ) -> Result<Self, ProviderError> {
        let client = RunpodClient::new(&settings)?;
        Ok(Self {
            settings,
            client,
            ledger: Ledger::new(app_dir),
            prices,
            poll,
            run_name: None,
            hf_token: std::env::var("HF_TOKEN")
                .ok()
                .filter(|t| !t.trim().is_empty())
                .map(Secret::new),
            pods: Arc::new(Mutex::new(Vec::new())),
            pending_create: None,
        })
    }

    /// Name the pod `llm-inf-bench-<run_name>` (default: the experiment's name).
    pub fn with_run_name(mut self, run_name: impl Into<String>) -> Self {
        self.run_name = Some(run_name.into());
        self
    }

    /// Talk to RunPod through `client` (one client shared by the cells of a matrix, so its
    /// call limit, 429 pause and create spacing cover them all).
    pub fn with_client(mut self, client: RunpodClient) -> Self {
        self.client = client;
        self
    }

    /// Override the Hugging Face token passed to the pod as `HF_TOKEN` (`None`: none).
    pub fn with_hf_token(mut self, token: Option<String>) -> Self {
        self.hf_token = token.map(Secret::new);
        self
    }

    /// Pods created or adopted and not yet terminated (e.g. to print after `--keep-server`).
    pub fn live_pods(&self) -> Vec<String> {
        lock(&self.pods).clone()
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn spawn_create(
        &self,
        request: CreatePodRequest,
        run_name: String,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> CreateTask {
        let client = self.client.clone();
        let ledger = self.ledger.clone();
        let pods = Arc::clone(&self.pods);
        let events = events.clone();
        let cancel = cancel.clone();
        let api_url = self.settings.api_url.clone();
        let fallback_cost = self.table_cost(&request);
        tokio::spawn(async move {
            let created = client.create_pod(&request, &cancel).await?;
            let pod = &created.pod;
            // Known to teardown first, then to the ledger (which can fail without losing it).
            lock(&pods).push(pod.id.clone());
            let record = PodRecord {
                pod_id: pod.id.clone(),
                name: request.name.clone(),
                run_name,
                created_at: Utc::now(),
                gpu_type: request.gpu.id.clone(),
                cost_per_hr: pod_cost(pod).or(fallback_cost),
                api_url,
            };
            match ledger.record(record) {
                Ok(Some(note)) => events.warn(note),
                Ok(None) => {}
                Err(e) => events.warn(format!("{e}; pod {} is not recorded", pod.id)),
            }
            if created.adopted {
                events.warn(format!(
                    "RunPod reported an error creating the pod, but pod {} exists; using it",
                    pod.id
                ));
            }
            Ok(created)
        })
    }

    /// Create the pod, the failure typed (a 400 suggests other GPUs).
    async fn create(
        &mut self,
        request: CreatePodRequest,
        run_name: String,
        experiment: &Experiment,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<CreatedPod, ProviderError> {
        let gpu_id = request.gpu.id.clone();
        // Kept in `self` while it runs, so that even if this future is dropped (the caller gave
        // up on provisioning) `teardown` still waits for the pod and terminates it.
        let task = self
            .pending_create
            .insert(self.spawn_create(request, run_name, events, cancel));
        let joined = tokio::select! {
            r = task => r,
            _ = cancel.cancelled() => return Err(ProviderError::Cancelled),
        };
        // No await since the task finished: a finished handle must not be polled again.
        self.pending_create = None;
        joined
            .map_err(ProviderError::Task)?
            .map_err(|e| self.create_error(e, experiment, &gpu_id))
    }

    /// The price table's name for the GPU (what the user wrote), else RunPod's id.
    fn gpu_name(&self, experiment: &Experiment, gpu_id: String) -> String {
        experiment
            .infrastructure
            .gpu_type
            .as_deref()
            .and_then(|g| self.prices.lookup(g))
            .map_or(gpu_id, |g| g.name.clone())
    }

    /// Price-table $/hr for the whole pod.
    fn table_cost(&self, request: &CreatePodRequest) -> Option<f64> {
        let gpu = self.prices.lookup(&request.gpu.id)?;
        let cloud = match request.cloud {
            Cloud::Community => CloudType::Community,
            Cloud::Secure => CloudType::Secure,
        };
        Some(gpu.price(cloud)? * f64::from(request.gpu.count))
    }

    /// Typed create failure: a 400 names the GPU and suggests others.
    fn create_error(&self, e: RunpodError, exp: &Experiment, gpu_id: &str) -> ProviderError {
        let RunpodError::BadRequest { detail } = e else {
            return e.into();
        };
        let cloud = exp.infrastructure.cloud_type;
        let this = self.prices.lookup(gpu_id);
        let min_mem = this.map(|g| g.memory_gb).unwrap_or(0);
        let mut others: Vec<_> = self
            .prices
            .gpus
            .iter()
            .filter(|g| g.runpod_id != gpu_id && g.memory_gb >= min_mem)
            .filter_map(|g| g.price(cloud).map(|p| (p, g.name.clone())))
            .collect();
        others.sort_by(|a, b| a.0.total_cmp(&b.0));
        let gpu = match this {
            Some(g) => format!("{} ({})", g.name, g.runpod_id),
            None => gpu_id.to_string(),
        };
        RunpodError::NoCapacity {
            gpu,
            cloud: cloud.as_str().to_string(),
            // The message goes on with ". This usually means": no doubled full stop.
            detail: detail.trim_end_matches('.').to_string(),
            alternatives: others.into_iter().take(4).map(|(_, n)| n).collect(),
        }
        .into()
    }

    /// Poll until RUNNING; `Ok` carries the last pod seen.
    async fn wait_running(
        &self,
        pod_id: &str,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<Pod, ProviderError> {
        let started = Instant::now();
        let mut not_found = 0;
        let mut last_status = "CREATED".to_string();
        loop {
            let got = tokio::select! {
                r = self.client.get_pod(pod_id) => r,
                _ = cancel.cancelled() => return Err(ProviderError::Cancelled),
            };
            match got {
                Ok(pod) => {
                    not_found = 0;
                    last_status = pod.status.to_string();
                    events.send(Event::Waiting {
                        elapsed: started.elapsed(),
                        status: format!("pod {pod_id} {last_status}"),
                    });
                    if pod.status == PodStatus::Running {
                        return Ok(pod);
                    }
                    if pod.status.is_dead() {
                        return Err(ProviderError::PodFailed {
                            pod_id: pod_id.to_string(),
                            status: last_status,
                        });
                    }
                }
                Err(e) if e.is_not_found() => {
                    not_found += 1;
                    if not_found >= MAX_NOT_FOUND {
                        return Err(ProviderError::PodVanished {
                            pod_id: pod_id.to_string(),
                        });
                    }
                }
                Err(e) => return Err(e.into()),
            }
            let elapsed = started.elapsed();
            if elapsed >= self.poll.timeout {
                return Err(ProviderError::Timeout {
                    what: format!("pod {pod_id}"),
                    waited: elapsed,
                    last_status,
                });
            }
            let nap = self.poll.interval.min(self.poll.timeout - elapsed);
            tokio::select! {
                _ = tokio::time::sleep(nap) => {}
                _ = cancel.cancelled() => return Err(ProviderError::Cancelled),
            }
        }
    }
}

#[async_trait]
impl Provider for RunpodProvider {
    fn name(&self) -> &'static str {
        "runpod"
    }

    fn how_to_stop(&self) -> String {
        let pods = self.pods.lock().map(|p| p.clone()).unwrap_or_default();
        match pods.as_slice() {
            [] => "stop it with `llm-inf-bench server stop <pod-id>` (see `llm-inf-bench server status`)".to_string(),
            ids => {
                let cmds: Vec<String> = ids
                    .iter()
                    .map(|id| format!("`llm-inf-bench server stop {id}`"))
                    .collect();
                format!("stop it with {}", cmds.join(" and "))
            }
        }
    }

    async fn provision(
        &mut self,
        experiment: &Experiment,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<ServerHandle, ProviderError> {
        if cancel.is_cancelled() {
            return Err(ProviderError::Cancelled);
        }
        let run_name = self
            .run_name
            .clone()
            .unwrap_or_else(|| experiment.name.clone());
        let (request, api_key) = templates::create_pod_request_keyed(
            experiment,
            &self.prices,
            &run_name,
            self.hf_token.as_ref().map(Secret::expose),
        )?;
        let gpu_id = request.gpu.id.clone();
        let gpu_count = request.gpu.count;
        let table_cost = self.table_cost(&request);
        events.info(creating_text(&request, experiment, table_cost));

        let created = self
            .create(request, run_name, experiment, events, cancel)
            .await?;
        let pod_id = created.pod.id.clone();
        events.info(format!("Pod {pod_id} created; waiting for it to run"));

        let pod = self.wait_running(&pod_id, events, cancel).await?;
        let gpu_type = self.gpu_name(experiment, gpu_id);
        Ok(ServerHandle {
            base_url: self.settings.proxy_url(&pod_id, SERVER_PORT),
            pod_id: Some(pod_id),
            gpu_type: Some(gpu_type),
            gpu_count: Some(pod.gpu.as_ref().map(|g| g.count).unwrap_or(gpu_count)),
            cost_per_hr: pod_cost(&pod).or(pod_cost(&created.pod)).or(table_cost),
            server_log: None,
            served_model: None,
            failure: None,
            api_key,
            healthy: false,
        })
    }

    async fn teardown(&mut self, events: &EventSink) -> Result<(), ProviderError> {
        if let Some(task) = self.pending_create.take() {
            // The task records any pod it created in `self.pods` before finishing.
            match task.await {
                Ok(Ok(created)) => events.info(format!(
                    "Pod {} was created while cancelling; terminating it",
                    created.pod.id
                )),
                Ok(Err(e)) => tracing::debug!("cancelled create ended without a pod: {e}"),
                Err(e) => events.warn(format!("pod creation task failed: {e}")),
            }
        }
        let ids = self.live_pods();
        let mut failures = Vec::new();
        for id in ids {
            match self.client.terminate_pod(&id).await {
                Ok(outcome) => {
                    lock(&self.pods).retain(|p| p != &id);
                    match self.ledger.remove(&id) {
                        Ok(Some(note)) => events.warn(note),
                        Ok(None) => {}
                        Err(e) => events.warn(e.to_string()),
                    }
                    events.info(match outcome {
                        Termination::Terminated => format!("Pod {id} terminated"),
                        Termination::AlreadyGone => format!("Pod {id} already gone"),
                    });
                }
                Err(e) => failures.push((id, e)),
            }
        }
        if failures.is_empty() {
            return Ok(());
        }
        let what = failures
            .iter()
            .map(|(id, _)| format!("pod {id}"))
            .collect::<Vec<_>>()
            .join(", ");
        let message = failures
            .iter()
            .map(|(id, e)| {
                format!(
                    "{e}. It may still be billing: run `llm-inf-bench server stop {id}` or \
                     terminate it in the RunPod console"
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        Err(ProviderError::Teardown { what, message })
    }
}

/// The pod's reported $/hr when positive (0 means stopped or not yet billed).
fn pod_cost(pod: &Pod) -> Option<f64> {
    pod.cost.filter(|c| *c > 0.0 && c.is_finite())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `Creating pod <name> (1x <gpu>, community cloud, ~$1.19/h)`.
fn creating_text(
    request: &CreatePodRequest,
    experiment: &Experiment,
    table_cost: Option<f64>,
) -> String {
    format!(
        "Creating pod {} ({}x {}, {} cloud{})",
        request.name,
        request.gpu.count,
        request.gpu.id,
        experiment.infrastructure.cloud_type.as_str(),
        table_cost
            .map(|c| format!(", ~${c:.2}/h"))
            .unwrap_or_default()
    )
}
