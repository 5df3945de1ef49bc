//! The dashboard and the report in a real browser (Debian's headless chromium through
//! chromedriver): start a simulated run from the form, watch the live charts fill, open the
//! result, compare two runs, open a sweep; then open report files. Screenshots go to
//! `target/dashboard-screenshots/` for people to look at.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use support::dashboard::webdriver::{browser_available, Browser};
use support::dashboard::Dash;

const WAIT: Duration = Duration::from_secs(180);

fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/dashboard-screenshots")
}

/// Charts in the page that drew at least one point, by `data-chart` name.
const DRAWN: &str = "return [...document.querySelectorAll('[data-chart]')].filter(c => +((c.querySelector('svg')||{}).getAttribute ? c.querySelector('svg').getAttribute('data-points') : 0) > 0).map(c => c.dataset.chart);";

async fn drawn(b: &Browser) -> Vec<String> {
    match b.js(DRAWN).await {
        Value::Array(a) => a
            .into_iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

async fn start_from_form(b: &Browser, config: &str) {
    b.js(&format!(
        "const s = document.getElementById('config'); s.value = '{config}'; s.dispatchEvent(new Event('change')); return 1;"
    ))
    .await;
    b.wait_for(
        "document.querySelector('#preview .kv')",
        "the config preview",
        WAIT,
    )
    .await;
    b.js("document.getElementById('start-btn').click(); return 1;")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_starts_a_run_draws_it_live_and_compares_results() {
    if !browser_available() {
        return;
    }
    let d = Dash::start().await;
    let b = Browser::start().await;
    b.goto(&d.url(&format!("/?token={}", d.token))).await;
    b.wait_for(
        "document.querySelectorAll('#config option').length > 3",
        "the config list",
        WAIT,
    )
    .await;
    assert_eq!(
        b.js("return location.search;").await,
        "",
        "the token stays out of the address bar"
    );

    // 1. A live run from the form: the charts fill while it runs, then it finishes.
    start_from_form(&b, "live.yaml").await;
    b.wait_for(
        "document.getElementById('live-state') && document.getElementById('live-state')?.textContent === 'running' && +document.querySelector('[data-chart=lat] svg').getAttribute('data-points') > 0",
        "live points while the run is running",
        WAIT,
    )
    .await;
    b.screenshot(&shots().join("dashboard-live-running.png"))
        .await;
    b.wait_for(
        "document.getElementById('live-state')?.textContent === 'completed'",
        "the run to finish",
        WAIT,
    )
    .await;
    // The last redraw may follow the `done` message by up to 100 ms.
    b.wait_for(
        "+document.querySelector('[data-chart=lat] svg').getAttribute('data-points') === 320",
        "160 requests × (TTFT + E2E) on the live chart",
        WAIT,
    )
    .await;
    let live_drawn = drawn(&b).await;
    for c in ["lat", "tps", "kv", "rq", "prefix", "timeline", "cdf"] {
        assert!(
            live_drawn.iter().any(|d| d == c),
            "live chart {c} empty: {live_drawn:?}"
        );
    }
    b.wait_for(
        "document.querySelector('#live-summary table')",
        "the summary",
        WAIT,
    )
    .await;
    b.screenshot(&shots().join("dashboard-live.png")).await;

    // The delay from a request completing (server stamp) to its point drawn in the page.
    let mut report = String::new();
    for (name, what) in [
        (
            "__chartDelays",
            "request complete → its point drawn on the live chart",
        ),
        (
            "__wsDelays",
            "request complete → its message in the page (engine + socket)",
        ),
        ("__drawMs", "one redraw of the seven live charts"),
    ] {
        let mut sorted: Vec<f64> = match b.js(&format!("return window.{name};")).await {
            Value::Array(a) => a.iter().filter_map(Value::as_f64).collect(),
            _ => Vec::new(),
        };
        assert!(sorted.len() >= 5, "{name}: only {} measured", sorted.len());
        sorted.sort_by(f64::total_cmp);
        report.push_str(&format!(
            "{what}: n={} p50={:.0} ms p95={:.0} ms max={:.0} ms\n",
            sorted.len(),
            sorted[sorted.len() / 2],
            sorted[sorted.len() * 95 / 100],
            sorted[sorted.len() - 1]
        ));
    }
    eprint!("{report}");
    std::fs::create_dir_all(shots()).unwrap();
    std::fs::write(shots().join("live-delay.txt"), report).unwrap();

    // 2. Open the stored result: its charts are rebuilt from the file.
    b.js("document.querySelector('a[data-open]').click(); return 1;")
        .await;
    b.wait_for("document.querySelector('[data-tab=Result].on') && +document.querySelector('[data-chart=timeline] svg')?.getAttribute('data-points') > 0", "the result view", WAIT).await;
    let result_drawn = drawn(&b).await;
    for c in ["lat", "tps", "kv", "rq", "prefix", "timeline", "cdf"] {
        assert!(
            result_drawn.iter().any(|d| d == c),
            "result chart {c} empty: {result_drawn:?}"
        );
    }
    b.screenshot(&shots().join("dashboard-result.png")).await;

    // 3. A second run, then compare the two from History.
    start_from_form(&b, "sim.yaml").await;
    b.wait_for("document.getElementById('live-title')?.textContent.startsWith('sim-') && document.getElementById('live-state')?.textContent === 'completed'", "the second run", WAIT).await;
    // 4. A sweep, for the sweep view.
    start_from_form(&b, "sub/sweep.yaml").await;
    b.wait_for("document.getElementById('live-title')?.textContent.startsWith('sweep-') && document.getElementById('live-state')?.textContent === 'completed'", "the sweep", WAIT).await;
    b.screenshot(&shots().join("dashboard-live-sweep.png"))
        .await;

    b.js("document.querySelector('[data-tab=History]').click(); return 1;")
        .await;
    b.wait_for(
        "document.querySelectorAll('#history tbody tr').length >= 5",
        "five results in History",
        WAIT,
    )
    .await;
    b.js("const f = document.getElementById('f-name'); f.value = 'sweep'; f.dispatchEvent(new Event('input')); return 1;").await;
    let filtered = b
        .js("return document.querySelectorAll('#history tbody tr').length;")
        .await;
    assert_eq!(filtered, 3, "the name filter keeps the three sweep results");
    b.js("const f = document.getElementById('f-name'); f.value = ''; f.dispatchEvent(new Event('input')); return 1;").await;
    b.screenshot(&shots().join("dashboard-history.png")).await;
    b.js("[...document.querySelectorAll('#history tbody tr')].filter(r => !r.dataset.run.startsWith('sweep')).forEach(r => r.querySelector('input').click()); return 1;").await;
    b.js("document.getElementById('compare-btn').click(); return 1;")
        .await;
    b.wait_for(
        "document.querySelector('[data-chart=cmp-ttft] svg')",
        "the compare view",
        WAIT,
    )
    .await;
    let cmp = drawn(&b).await;
    for c in ["cmp-ttft", "cmp-e2e", "cmp-lat", "cmp-tput"] {
        assert!(
            cmp.iter().any(|d| d == c),
            "compare chart {c} empty: {cmp:?}"
        );
    }
    let overlaid = b
        .js("return document.querySelectorAll('[data-chart=cmp-ttft] path[data-series]').length;")
        .await;
    assert_eq!(overlaid, 2, "two overlaid CDFs");
    b.screenshot(&shots().join("dashboard-compare.png")).await;

    b.js("document.querySelector('[data-tab=History]').click(); return 1;")
        .await;
    b.wait_for(
        "document.querySelector('#history a')",
        "the sweep link",
        WAIT,
    )
    .await;
    b.js("document.querySelector('#history a').click(); return 1;")
        .await;
    b.wait_for(
        "document.querySelector('[data-chart=sweep] svg circle')",
        "the sweep view with its knee",
        WAIT,
    )
    .await;
    b.screenshot(&shots().join("dashboard-sweep.png")).await;

    let errors = b.console_errors().await;
    b.close().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_files_draw_their_charts_offline() {
    if !browser_available() {
        return;
    }
    // Results from real simulated runs, through the dashboard's own engine.
    let d = Dash::start().await;
    let mut ws = support::dashboard::Ws::connect(&d).await;
    let mut ids = Vec::new();
    for config in ["sim.yaml", "sub/sweep.yaml"] {
        ws.send(serde_json::json!({"type": "start_experiment", "config_path": config}))
            .await;
        let run = ws.next_of(&["experiment_started"]).await["run_id"]
            .as_str()
            .unwrap()
            .to_string();
        let msgs = ws.until_done(&run).await;
        let done = msgs.last().unwrap();
        for id in done["data"]["result_ids"].as_array().unwrap() {
            ids.push(id.as_str().unwrap().to_string());
        }
    }
    assert_eq!(ids.len(), 4);
    let bin = env!("CARGO_BIN_EXE_llm-inf-bench");
    let out = shots();
    std::fs::create_dir_all(&out).unwrap();
    let single = out.join("report-single.html");
    let sweep = out.join("report-sweep.html");
    for (file, runs) in [(&single, &ids[..1]), (&sweep, &ids[1..])] {
        let status = std::process::Command::new(bin)
            .args(["report", "--dir"])
            .arg(&d.results)
            .args(runs)
            .arg("-o")
            .arg(file)
            .status()
            .unwrap();
        assert!(status.success());
        let html = std::fs::read_to_string(file).unwrap();
        for remote in ["src=\"http", "href=\"http", "@import", "url(http"] {
            assert!(
                !html.contains(remote),
                "the report loads nothing from the network ({remote})"
            );
        }
    }

    let b = Browser::start().await;
    b.goto(&format!("file://{}", single.display())).await;
    b.wait_for(
        "document.querySelector('[data-chart=lat] svg')",
        "the report's charts",
        WAIT,
    )
    .await;
    let got = drawn(&b).await;
    // (a 12-request run is too short for a prefix-cache window)
    for c in ["lat", "tps", "kv", "rq", "timeline", "cdf"] {
        assert!(
            got.iter().any(|d| d == c),
            "report chart {c} empty: {got:?}"
        );
    }
    b.screenshot(&shots().join("report-result.png")).await;

    b.goto(&format!("file://{}", sweep.display())).await;
    b.wait_for(
        "document.querySelector('[data-chart=sweep] svg circle')",
        "the sweep report with its knee",
        WAIT,
    )
    .await;
    b.screenshot(&shots().join("report-sweep.png")).await;
    b.js("document.querySelector('[data-tab=Compare]').click(); return 1;")
        .await;
    b.wait_for(
        "+document.querySelector('[data-chart=cmp-e2e] svg').getAttribute('data-points') > 0",
        "the report's compare view",
        WAIT,
    )
    .await;
    assert_eq!(
        b.js("return document.querySelectorAll('[data-chart=cmp-e2e] path[data-series]').length;")
            .await,
        3
    );
    b.screenshot(&shots().join("report-compare.png")).await;
    let errors = b.console_errors().await;
    b.close().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
}
