//! The live side: one run at a time (later starts wait in a queue), every message broadcast
//! to every connected tab, and the active run's messages kept so a tab that connects late
//! (or reconnects) redraws the whole run.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::sync::{broadcast, Notify};

use super::runs::{self, PrepareError, ProviderFactory, StartRequest, StopButton};

/// Replay kept for late tabs: enough for a 10,000-request run plus its samples and logs.
const REPLAY_CAP: usize = 60_000;

#[derive(Clone)]
struct ActiveRun {
    run_id: String,
    experiment_name: String,
    config_path: String,
    started_at: String,
    stop: StopButton,
}

#[derive(Debug, Clone)]
struct Queued {
    run_id: String,
    req: StartRequest,
}

#[derive(Default)]
struct State {
    active: Option<ActiveRun>,
    queue: VecDeque<Queued>,
    completed: Vec<Value>,
    replay: VecDeque<String>,
}

/// Shared by every connection.
pub struct Hub {
    tx: broadcast::Sender<String>,
    state: Mutex<State>,
    wake: Notify,
    idle: Notify,
    results_dir: PathBuf,
    factory: ProviderFactory,
    pub clients: std::sync::atomic::AtomicUsize,
}

impl Hub {
    pub fn new(results_dir: PathBuf, factory: ProviderFactory) -> Arc<Self> {
        let (tx, _) = broadcast::channel(8192);
        let hub = Arc::new(Hub {
            tx,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            idle: Notify::new(),
            results_dir,
            factory,
            clients: Default::default(),
        });
        tokio::spawn(worker(Arc::clone(&hub)));
        hub
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind: keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Send to every tab; messages of the active run are kept for late tabs.
    pub fn broadcast(&self, msg: &Value) {
        let text = msg.to_string();
        {
            let mut st = self.lock();
            if st.active.is_some() {
                if st.replay.len() >= REPLAY_CAP {
                    st.replay.pop_front();
                }
                st.replay.push_back(text.clone());
            }
        }
        let _ = self.tx.send(text);
    }

    /// A new tab: the active run's messages so far, then everything live.
    pub fn subscribe(&self) -> (Vec<String>, broadcast::Receiver<String>) {
        let st = self.lock();
        let rx = self.tx.subscribe();
        (st.replay.iter().cloned().collect(), rx)
    }

    /// Queue a run. Checks it first (config valid, cost confirmed) so the page hears at once.
    pub fn start(&self, req: StartRequest) -> Result<Value, Value> {
        let checked = runs::check(&req);
        match checked {
            Err(PrepareError::NeedsConfirmation(est)) => {
                return Err(
                    json!({"type": "confirm_required", "config_path": req.config_label,
                    "cost": runs::cost_json(&est),
                    "message": format!("This run may cost up to ${:.2}; confirm to start it.", est.high_usd)}),
                )
            }
            Err(PrepareError::Invalid(message)) => {
                return Err(json!({"type": "error", "message": message}))
            }
            Ok(_) => {}
        }
        let name = req.run_name.clone().unwrap_or_else(|| {
            req.config_path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "run".into())
        });
        let run_id = crate::results::storage::new_run_id(&name, chrono::Local::now());
        let mut st = self.lock();
        let taken = |id: &str| {
            st.queue.iter().any(|q| q.run_id == id)
                || st.active.as_ref().is_some_and(|a| a.run_id == id)
        };
        let mut unique = run_id.clone();
        let mut n = 2;
        while taken(&unique) {
            unique = format!("{run_id}-{n}");
            n += 1;
        }
        let position = st.queue.len() + usize::from(st.active.is_some());
        st.queue.push_back(Queued {
            run_id: unique.clone(),
            req,
        });
        drop(st);
        self.wake.notify_one();
        Ok(
            json!({"type": "experiment_started", "run_id": unique, "queued": position > 0, "position": position}),
        )
    }

    /// Stop: the active run stops like Ctrl-C (a second stop stops waiting); a queued one is
    /// dropped.
    pub fn stop(&self, run_id: &str) -> Result<Value, Value> {
        let mut st = self.lock();
        if let Some(a) = st.active.as_ref().filter(|a| a.run_id == run_id) {
            a.stop.press();
            return Ok(json!({"type": "experiment_stopping", "run_id": run_id}));
        }
        let before = st.queue.len();
        st.queue.retain(|q| q.run_id != run_id);
        if st.queue.len() < before {
            return Ok(json!({"type": "experiment_stopping", "run_id": run_id, "dequeued": true}));
        }
        Err(json!({"type": "error", "message": format!("no active or queued run {run_id}")}))
    }

    /// Stop everything (the dashboard is shutting down) and wait for teardown.
    pub async fn shutdown(&self) {
        let busy = {
            let mut st = self.lock();
            st.queue.clear();
            if let Some(a) = &st.active {
                if !a.stop.pressed() {
                    a.stop.press();
                }
            }
            st.active.is_some()
        };
        if busy {
            let idle = self.idle.notified();
            if self.lock().active.is_some() {
                idle.await;
            }
        }
    }

    pub fn status(&self) -> Value {
        let st = self.lock();
        json!({
            "active_run": st.active.as_ref().map(|a| json!({
                "run_id": a.run_id, "experiment_name": a.experiment_name,
                "config_path": a.config_path, "started_at": a.started_at,
                "stopping": a.stop.pressed(),
            })),
            "queued_runs": st.queue.iter().map(|q| json!({"run_id": q.run_id, "config_path": q.req.config_label})).collect::<Vec<_>>(),
            "completed_runs": st.completed,
            "connected_clients": self.clients.load(std::sync::atomic::Ordering::Relaxed),
        })
    }
}

/// Takes queued runs one at a time.
async fn worker(hub: Arc<Hub>) {
    loop {
        let next = hub.lock().queue.pop_front();
        let Some(Queued { run_id, req }) = next else {
            hub.wake.notified().await;
            continue;
        };
        let prepared = match runs::prepare(&req, &hub.results_dir, &hub.factory) {
            Ok(p) => p,
            Err(e) => {
                let message = match e {
                    PrepareError::Invalid(m) => m,
                    PrepareError::NeedsConfirmation(est) => {
                        format!("needs a cost confirmation (${:.2})", est.high_usd)
                    }
                };
                hub.broadcast(&json!({"type": "error", "run_id": run_id, "message": message}));
                continue;
            }
        };
        let stop = StopButton::default();
        let active = ActiveRun {
            run_id: run_id.clone(),
            experiment_name: prepared.experiment_name.clone(),
            config_path: req.config_label.clone(),
            started_at: chrono::Utc::now().to_rfc3339(),
            stop: stop.clone(),
        };
        {
            let mut st = hub.lock();
            st.replay.clear();
            st.active = Some(active.clone());
        }
        hub.broadcast(&json!({"type": "run_started", "run_id": run_id,
            "experiment_name": active.experiment_name, "config_path": active.config_path,
            "started_at": active.started_at}));
        let emitter = Arc::clone(&hub);
        let end = runs::execute(prepared, &run_id, stop, move |msg| emitter.broadcast(&msg)).await;
        {
            let mut st = hub.lock();
            st.active = None;
            st.completed.push(
                json!({"run_id": run_id, "experiment_name": active.experiment_name,
                "status": end.status,
                "result_ids": end.saved.iter().map(|s| s.0.clone()).collect::<Vec<_>>()}),
            );
        }
        hub.idle.notify_waiters();
    }
}
