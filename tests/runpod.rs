//! RunPod provider against a local fake of the REST v2 API.

mod support;

use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use llm_inf_bench::config::Framework;
use llm_inf_bench::events::{Event, EventSink};
use llm_inf_bench::providers::runpod::{
    server_status, server_stop, update_pricing, Ledger, PollSettings, PriceTable, RunpodError,
    RunpodProvider, Termination,
};
use llm_inf_bench::providers::{Provider, ProviderError, ServerHandle};
use support::experiments;
use support::runpod::schema::OpenApi;
use support::runpod::{CreateScript, FakeRunpod, Lifecycle};

const KEY: &str = "rpa_TESTKEY_9f8e7d6c5b4a";

fn fast_poll() -> PollSettings {
    PollSettings {
        interval: Duration::from_millis(1),
        timeout: Duration::from_secs(30),
    }
}

struct Setup {
    fake: FakeRunpod,
    dir: tempfile::TempDir,
    provider: RunpodProvider,
}

async fn setup(poll: PollSettings) -> Setup {
    let fake = FakeRunpod::start(KEY).await;
    let dir = tempfile::tempdir().unwrap();
    let provider = RunpodProvider::new(fake.settings(KEY), dir.path(), PriceTable::builtin(), poll)
        .unwrap()
        .with_run_name("fake-run-001")
        .with_hf_token(Some("hf_token_value".into()));
    Setup {
        fake,
        dir,
        provider,
    }
}

impl Setup {
    /// Provision the standard vLLM experiment, without events or cancellation.
    async fn provision(&mut self) -> Result<ServerHandle, ProviderError> {
        let exp = experiments::runpod(Framework::Vllm);
        self.provider
            .provision(&exp, &EventSink::discard(), &CancellationToken::new())
            .await
    }

    async fn teardown(&mut self) {
        self.provider
            .teardown(&EventSink::discard())
            .await
            .expect("teardown");
    }
}

/// Every create body the fake saw matches CreatePodRequest (and picks exactly one of gpu/cpu).
fn assert_create_bodies_valid(fake: &FakeRunpod) {
    let api = OpenApi::load();
    let bodies = fake.create_bodies();
    assert!(!bodies.is_empty());
    for b in bodies {
        let errs = api.validate("CreatePodRequest", &b);
        assert!(
            errs.is_empty(),
            "create body {b} violates the schema: {errs:?}"
        );
        assert!(b.get("gpu").is_some() && b.get("cpu").is_none());
    }
}

fn assert_all_calls_authenticated(fake: &FakeRunpod) {
    for c in fake.calls() {
        assert_eq!(
            c.auth.as_deref(),
            Some(format!("Bearer {KEY}").as_str()),
            "{c:?}"
        );
    }
}

fn ledger_ids(dir: &tempfile::TempDir) -> Vec<String> {
    Ledger::new(dir.path())
        .load()
        .unwrap()
        .into_iter()
        .map(|r| r.pod_id)
        .collect()
}

fn assert_no_key(text: &str) {
    assert!(!text.contains("TESTKEY"), "API key leaked into: {text}");
}

#[tokio::test]
async fn happy_path_creates_waits_and_tears_down() {
    let mut s = setup(fast_poll()).await;
    s.fake.set_lifecycle(Lifecycle::RunningAfter(3));
    let (events, mut rx) = EventSink::channel();
    let exp = experiments::runpod(Framework::Vllm);
    let handle = s
        .provider
        .provision(&exp, &events, &CancellationToken::new())
        .await
        .unwrap();

    let pod_id = handle.pod_id.clone().unwrap();
    assert_eq!(handle.base_url, format!("http://proxy.test/{pod_id}/8000"));
    assert_eq!(handle.gpu_type.as_deref(), Some("A100-80GB"));
    assert_eq!(handle.gpu_count, Some(1));
    assert_eq!(handle.cost_per_hr, Some(1.25)); // the pod's own cost wins over the table
    assert_eq!(ledger_ids(&s.dir), vec![pod_id.clone()]);
    let rec = &Ledger::new(s.dir.path()).load().unwrap()[0];
    assert_eq!(rec.name, "llm-inf-bench-fake-run-001");
    assert_eq!(rec.run_name, "fake-run-001");
    assert_eq!(rec.gpu_type, "NVIDIA A100 80GB PCIe");
    assert_eq!(rec.api_url, s.fake.url);

    let body = &s.fake.create_bodies()[0];
    assert_eq!(body["image"], "vllm/vllm-openai:latest");
    assert_eq!(
        body["args"],
        "meta-llama/Meta-Llama-3-8B-Instruct --host 0.0.0.0 --port 8000 --max-model-len 4096 \
         --gpu-memory-utilization 0.9 --enable-prefix-caching"
    );
    assert_eq!(
        body["gpu"],
        json!({"id": "NVIDIA A100 80GB PCIe", "count": 1})
    );
    assert_eq!(body["cloud"], "COMMUNITY");
    assert_eq!(body["ports"], json!(["8000/http"]));
    assert_eq!(body["env"], json!({"HF_TOKEN": "hf_token_value"}));
    assert_create_bodies_valid(&s.fake);

    s.provider.teardown(&events).await.unwrap();
    assert!(s.fake.live_pods().is_empty());
    assert!(ledger_ids(&s.dir).is_empty());
    assert_eq!(s.fake.calls_to("DELETE", "/v2/pods/").len(), 1);
    // Idempotent: nothing left to terminate.
    s.provider.teardown(&events).await.unwrap();
    assert_eq!(s.fake.calls_to("DELETE", "/v2/pods/").len(), 1);
    assert_all_calls_authenticated(&s.fake);

    drop(events);
    let mut statuses = Vec::new();
    while let Some(ev) = rx.recv().await {
        if let Event::Waiting { status, .. } = &ev {
            statuses.push(status.clone());
        }
        assert_no_key(&format!("{ev:?}"));
    }
    assert_eq!(statuses.len(), 4, "{statuses:?}");
    assert!(statuses[0].ends_with("PROVISIONING") && statuses[3].ends_with("RUNNING"));
}

#[tokio::test]
async fn sglang_pod_gets_the_full_command_and_tensor_parallelism() {
    let mut s = setup(fast_poll()).await;
    let mut exp = experiments::runpod(Framework::Sglang);
    exp.infrastructure.gpu_count = 2;
    exp.infrastructure.cloud_type = llm_inf_bench::config::CloudType::Secure;
    let h = s
        .provider
        .provision(&exp, &EventSink::discard(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(h.gpu_count, Some(2));
    let body = &s.fake.create_bodies()[0];
    assert_eq!(body["image"], "lmsysorg/sglang:latest");
    assert_eq!(
        body["args"],
        "python3 -m sglang.launch_server --model-path meta-llama/Meta-Llama-3-8B-Instruct \
         --host 0.0.0.0 --port 8000 --enable-metrics --context-length 4096 \
         --mem-fraction-static 0.9 --enable-cache-report --tp 2"
    );
    assert_eq!(body["cloud"], "SECURE");
    assert_eq!(body["gpu"]["count"], 2);
    assert_create_bodies_valid(&s.fake);
    s.teardown().await;
    assert!(s.fake.live_pods().is_empty());
}

#[tokio::test]
async fn each_create_failure_is_typed_and_leaves_nothing_running() {
    type Case = (
        CreateScript,
        fn(&ProviderError) -> bool,
        &'static [&'static str],
    );
    let cases: Vec<Case> = vec![
        (
            CreateScript::NoCapacity,
            |e| matches!(e, ProviderError::Runpod(RunpodError::NoCapacity { .. })),
            &["A100-80GB", "no longer any instances", "H100"],
        ),
        (
            CreateScript::Unauthorized,
            |e| matches!(e, ProviderError::Runpod(RunpodError::Unauthorized { .. })),
            &["RUNPOD_API_KEY"],
        ),
        (
            CreateScript::NoBalance,
            |e| {
                matches!(
                    e,
                    ProviderError::Runpod(RunpodError::InsufficientBalance { .. })
                )
            },
            &["balance"],
        ),
        (
            CreateScript::Forbidden,
            |e| matches!(e, ProviderError::Runpod(RunpodError::Forbidden { .. })),
            &["403"],
        ),
        (
            CreateScript::Invalid,
            |e| matches!(e, ProviderError::Runpod(RunpodError::Validation { .. })),
            &["$.disk: must be >= 1", "bogus"],
        ),
    ];
    for (script, is_expected, needles) in cases {
        let mut s = setup(fast_poll()).await;
        s.fake.script_create(vec![script.clone()]);
        let err = s.provision().await.unwrap_err();
        assert!(is_expected(&err), "{script:?}: {err:?}");
        let msg = err.to_string();
        for n in needles {
            assert!(msg.contains(n), "{script:?}: '{msg}' lacks '{n}'");
        }
        assert_no_key(&msg);
        assert_no_key(&format!("{err:?}"));
        // No retry of a client error.
        assert_eq!(s.fake.create_bodies().len(), 1, "{script:?}");
        s.teardown().await;
        assert!(s.fake.live_pods().is_empty(), "{script:?}");
        assert!(ledger_ids(&s.dir).is_empty());
        assert_create_bodies_valid(&s.fake);
    }
}

#[tokio::test]
async fn rate_limit_then_created() {
    let mut s = setup(fast_poll()).await;
    s.fake.script_create(vec![
        CreateScript::RateLimited { retry_after: "1" },
        CreateScript::RateLimited { retry_after: "0" },
        CreateScript::Created,
    ]);
    let h = s.provision().await.unwrap();
    assert_eq!(s.fake.create_bodies().len(), 3);
    assert_eq!(s.fake.live_pods(), [h.pod_id.clone().unwrap()]);
    s.teardown().await;
    assert!(s.fake.live_pods().is_empty());
}

#[tokio::test]
async fn persistent_rate_limit_gives_up_after_the_retry_bound() {
    let mut s = setup(fast_poll()).await;
    s.fake
        .script_create(vec![CreateScript::RateLimited { retry_after: "0" }; 10]);
    let err = s.provision().await.unwrap_err();
    assert!(
        matches!(
            err,
            ProviderError::Runpod(RunpodError::RateLimited { attempts: 5 })
        ),
        "{err:?}"
    );
    assert_eq!(s.fake.create_bodies().len(), 5);
    assert!(s.fake.live_pods().is_empty());
}

#[tokio::test]
async fn server_error_without_pod_is_checked_then_retried() {
    let mut s = setup(fast_poll()).await;
    s.fake
        .script_create(vec![CreateScript::ServerError, CreateScript::Created]);
    let h = s.provision().await.unwrap();
    assert_eq!(s.fake.create_bodies().len(), 2);
    // The list call that looked for a half-created pod came between the two creates.
    let order: Vec<_> = s
        .fake
        .calls()
        .into_iter()
        .map(|c| format!("{} {}", c.method, c.path))
        .collect();
    assert_eq!(
        order[..3],
        ["POST /v2/pods", "GET /v2/pods", "POST /v2/pods"]
    );
    assert_eq!(s.fake.live_pods(), [h.pod_id.unwrap()]);
    s.teardown().await;
    assert!(s.fake.live_pods().is_empty());
}

#[tokio::test]
async fn server_error_after_create_adopts_the_pod_and_terminates_it() {
    let mut s = setup(fast_poll()).await;
    s.fake
        .script_create(vec![CreateScript::ServerErrorAfterCreate]);
    let (events, mut rx) = EventSink::channel();
    let h = s
        .provider
        .provision(
            &experiments::runpod(Framework::Vllm),
            &events,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        s.fake.create_bodies().len(),
        1,
        "must not create a second pod"
    );
    let id = h.pod_id.unwrap();
    assert_eq!(s.fake.live_pods(), vec![id.clone()]);
    assert_eq!(ledger_ids(&s.dir), vec![id.clone()]);
    s.provider.teardown(&events).await.unwrap();
    assert!(s.fake.live_pods().is_empty());
    assert!(ledger_ids(&s.dir).is_empty());
    drop(events);
    let mut warned = false;
    while let Some(ev) = rx.recv().await {
        warned |= matches!(&ev, Event::Warn(m) if m.contains(&id));
    }
    assert!(warned, "adoption should be reported");
}

#[tokio::test]
async fn server_errors_exhaust_retries_without_leaking() {
    let mut s = setup(fast_poll()).await;
    s.fake.script_create(vec![CreateScript::ServerError; 10]);
    let err = s.provision().await.unwrap_err();
    assert!(
        matches!(
            err,
            ProviderError::Runpod(RunpodError::Server {
                status: 500,
                attempts: 5,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(s.fake.live_pods().is_empty());
    s.teardown().await;
}

#[tokio::test]
async fn never_running_times_out_and_teardown_still_terminates() {
    let mut s = setup(PollSettings {
        interval: Duration::from_millis(1),
        timeout: Duration::from_millis(40),
    })
    .await;
    s.fake.set_lifecycle(Lifecycle::NeverRunning);
    let err = s.provision().await.unwrap_err();
    match &err {
        ProviderError::Timeout { last_status, .. } => {
            assert!(
                ["PROVISIONING", "STARTING"].contains(&last_status.as_str()),
                "{last_status}"
            )
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(s.fake.live_pods().len(), 1);
    assert_eq!(ledger_ids(&s.dir).len(), 1);
    s.teardown().await;
    assert!(s.fake.live_pods().is_empty());
    assert!(ledger_ids(&s.dir).is_empty());
}

#[tokio::test]
async fn pod_in_error_state_fails_and_is_terminated() {
    let mut s = setup(fast_poll()).await;
    s.fake.set_lifecycle(Lifecycle::ErrorAfter(2));
    let err = s.provision().await.unwrap_err();
    assert!(
        matches!(&err, ProviderError::PodFailed { status, .. } if status.contains("ERROR")),
        "{err:?}"
    );
    s.teardown().await;
    assert!(s.fake.live_pods().is_empty());
}

#[tokio::test]
async fn failed_termination_is_reported_kept_in_ledger_and_stoppable_later() {
    let mut s = setup(fast_poll()).await;
    let h = s.provision().await.unwrap();
    let id = h.pod_id.unwrap();
    s.fake.fail_terminate(true);
    let err = s
        .provider
        .teardown(&EventSink::discard())
        .await
        .unwrap_err();
    match &err {
        ProviderError::Teardown { what, message } => {
            assert!(what.contains(&id), "{what}");
            assert!(message.contains(&format!("server stop {id}")), "{message}");
        }
        other => panic!("expected Teardown, got {other:?}"),
    }
    assert_no_key(&err.to_string());
    assert_eq!(ledger_ids(&s.dir), vec![id.clone()]);
    assert_eq!(s.fake.live_pods(), vec![id.clone()]);

    let settings = s.fake.settings(KEY);
    let ledger = Ledger::new(s.dir.path());
    let rows = server_status(&settings, &ledger).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].pod_id.as_str(), rows[0].status.as_str()),
        (id.as_str(), "RUNNING")
    );
    assert!(rows[0].recorded && !rows[0].gone);

    assert!(server_stop(&settings, &ledger, &id).await.is_err());
    assert_eq!(ledger_ids(&s.dir), vec![id.clone()]);
    s.fake.fail_terminate(false);
    assert_eq!(
        server_stop(&settings, &ledger, &id).await.unwrap(),
        Termination::Terminated
    );
    assert!(s.fake.live_pods().is_empty());
    assert!(ledger_ids(&s.dir).is_empty());
    // The provider's own retry now finds it gone: success.
    s.teardown().await;
    assert_eq!(
        server_stop(&settings, &ledger, &id).await.unwrap(),
        Termination::AlreadyGone
    );
}

#[tokio::test]
async fn cancellation_while_polling_returns_and_teardown_terminates() {
    let s = setup(fast_poll()).await;
    s.fake.set_lifecycle(Lifecycle::NeverRunning);
    let (events, mut rx) = EventSink::channel();
    let cancel = CancellationToken::new();
    let exp = experiments::runpod(Framework::Vllm);
    let mut provider = s.provider;
    let task = {
        let (events, cancel) = (events.clone(), cancel.clone());
        tokio::spawn(async move {
            let r = provider.provision(&exp, &events, &cancel).await;
            (provider, r)
        })
    };
    while let Some(ev) = rx.recv().await {
        if matches!(ev, Event::Waiting { .. }) {
            break;
        }
    }
    cancel.cancel();
    let (mut provider, result) = task.await.unwrap();
    assert!(
        matches!(result, Err(ProviderError::Cancelled)),
        "{result:?}"
    );
    assert_eq!(s.fake.live_pods().len(), 1);
    provider.teardown(&events).await.unwrap();
    assert!(s.fake.live_pods().is_empty());
    assert!(ledger_ids(&s.dir).is_empty());
}

#[tokio::test]
async fn cancellation_during_create_still_terminates_the_late_pod() {
    let s = setup(fast_poll()).await;
    s.fake.script_create(vec![CreateScript::HangThenCreate]);
    let cancel = CancellationToken::new();
    let exp = experiments::runpod(Framework::Vllm);
    let mut provider = s.provider;
    let task = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let r = provider
                .provision(&exp, &EventSink::discard(), &cancel)
                .await;
            (provider, r)
        })
    };
    s.fake.create_seen().await;
    cancel.cancel();
    // Returns while the create request is still hanging on the server.
    let (mut provider, result) = task.await.unwrap();
    assert!(
        matches!(result, Err(ProviderError::Cancelled)),
        "{result:?}"
    );
    assert!(s.fake.live_pods().is_empty());
    s.fake.release_create();
    provider.teardown(&EventSink::discard()).await.unwrap();
    assert_eq!(s.fake.create_bodies().len(), 1);
    assert_eq!(s.fake.calls_to("DELETE", "/v2/pods/").len(), 1);
    assert!(s.fake.live_pods().is_empty());
    assert!(ledger_ids(&s.dir).is_empty());
}

#[tokio::test]
async fn status_drops_gone_pods_and_lists_unrecorded_ones() {
    let fake = FakeRunpod::start(KEY).await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::new(dir.path());
    ledger
        .record(llm_inf_bench::providers::runpod::PodRecord {
            pod_id: "vanished".into(),
            name: "llm-inf-bench-old".into(),
            run_name: "old".into(),
            created_at: chrono::Utc::now(),
            gpu_type: "NVIDIA L4".into(),
            cost_per_hr: Some(0.43),
            api_url: fake.url.clone(),
        })
        .unwrap();
    let mut elsewhere = ledger.load().unwrap()[0].clone();
    elsewhere.pod_id = "from-another-api".into();
    elsewhere.api_url = "https://api.runpod.io".into();
    ledger.record(elsewhere).unwrap();
    let stray = fake.add_pod("llm-inf-bench-crashed-run");
    fake.add_pod("someone-elses-pod");
    let rows = server_status(&fake.settings(KEY), &ledger).await.unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[0].pod_id, "vanished");
    assert!(rows[0].gone && rows[0].status == "GONE");
    assert_eq!(rows[1].pod_id, "from-another-api");
    assert!(!rows[1].gone && rows[1].status.starts_with("UNKNOWN"));
    assert_eq!(rows[2].pod_id, stray);
    assert!(!rows[2].recorded);
    let left: Vec<_> = ledger
        .load()
        .unwrap()
        .into_iter()
        .map(|r| r.pod_id)
        .collect();
    assert_eq!(left, ["from-another-api"]);
}

#[tokio::test]
async fn update_pricing_writes_a_table_that_load_uses() {
    let fake = FakeRunpod::start(KEY).await;
    let dir = tempfile::tempdir().unwrap();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
    let updated = update_pricing(&fake.settings(KEY), dir.path(), today)
        .await
        .unwrap();
    assert_eq!(updated.path, dir.path().join("pricing.json"));
    let loaded = PriceTable::load(dir.path());
    assert_eq!(loaded, updated.table);
    assert_eq!(loaded.last_updated, today);
    // The catalog's two types first, then every built-in type it lacks, with its old price.
    let builtin = PriceTable::builtin();
    assert_eq!(
        (updated.from_catalog, updated.kept),
        (2, builtin.gpus.len() - 1)
    );
    assert_eq!(loaded.known_names()[..2], ["A100-80GB", "RTX PRO 6000"]);
    assert_eq!(loaded.lookup("A100-80GB").unwrap().community, Some(1.1));
    assert_eq!(loaded.lookup("RTX PRO 6000").unwrap().community, None);
    let h100 = loaded.lookup("H100-80GB").unwrap();
    assert_eq!(
        h100.community,
        builtin.lookup("H100-80GB").unwrap().community
    );
    assert_eq!(loaded.date_of(h100), builtin.last_updated);
    assert_no_key(&std::fs::read_to_string(&updated.path).unwrap());
}

#[tokio::test]
async fn wrong_key_is_a_clear_error_and_never_echoed() {
    let fake = FakeRunpod::start(KEY).await;
    let dir = tempfile::tempdir().unwrap();
    let wrong = "rpa_TESTKEY_wrong";
    let provider = RunpodProvider::new(
        fake.settings(wrong),
        dir.path(),
        PriceTable::builtin(),
        fast_poll(),
    )
    .unwrap();
    let provider = provider.with_hf_token(Some("hf_TESTKEY_token".into()));
    assert_no_key(&format!("{provider:?}"));
    assert_no_key(&format!("{:?}", fake.settings(wrong)));
    let mut provider = provider;
    let err = provider
        .provision(
            &experiments::runpod(Framework::Vllm),
            &EventSink::discard(),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        ProviderError::Runpod(RunpodError::Unauthorized { .. })
    ));
    assert_no_key(&err.to_string());
    assert_no_key(&format!("{err:?}"));
    let status_err = server_status(&fake.settings(wrong), &Ledger::new(dir.path()))
        .await
        .unwrap_err();
    assert_no_key(&status_err.to_string());
    // Nothing written anywhere holds the key.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            assert_no_key(&std::fs::read_to_string(path).unwrap_or_default());
        }
    }
}

#[test]
fn schema_checker_rejects_bad_bodies() {
    let api = OpenApi::load();
    let good =
        json!({"name": "x", "image": "i", "gpu": {"id": "NVIDIA L4", "count": 1}, "disk": 50});
    assert!(api.validate("CreatePodRequest", &good).is_empty());
    for bad in [
        json!({"image": "i", "gpu": {"id": "g"}}), // name missing
        json!({"name": "x", "gpu": {"id": "g"}}),  // image missing
        json!({"name": "x", "image": "i", "args": ["a", "b"]}), // args must be a string
        json!({"name": "x", "image": "i", "dockerStartCmd": ["a"]}), // v1 field
        json!({"name": "x", "image": "i", "cloud": "ALL"}), // not an enum value
        json!({"name": "x", "image": "i", "gpu": {"count": 1}}), // gpu.id missing
        json!({"name": "x", "image": "i", "env": [{"key": "K", "value": "V"}]}),
        json!({"name": "x", "image": "i", "disk": "50"}),
    ] {
        assert!(
            !api.validate("CreatePodRequest", &bad).is_empty(),
            "accepted {bad}"
        );
    }
}
