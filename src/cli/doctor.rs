//! `doctor`: environment checks, one line each, `OK` / `WARN` / `FAIL`; exit 1 on any FAIL.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use super::{exit, CliError, Globals};
use crate::app_config::{self, AppConfig};
use crate::providers::runpod::{ledger::Ledger, pricing::PriceTable};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warn,
    Fail,
}

struct Check {
    level: Level,
    name: &'static str,
    detail: String,
}

fn check(level: Level, name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        level,
        name,
        detail: detail.into(),
    }
}

pub async fn doctor(globals: &Globals, out: &mut dyn Write) -> Result<u8, CliError> {
    let mut checks = Vec::new();
    let dir = match app_config::app_dir() {
        Ok(dir) => dir,
        Err(e) => {
            checks.push(check(Level::Fail, "app directory", e.to_string()));
            return render(&checks, globals, out);
        }
    };
    let app = app_config_check(&dir, &mut checks);

    checks.push(match app.api_key() {
        Some(_) if std::env::var(app_config::API_KEY_ENV).is_ok() => {
            check(Level::Ok, "RunPod API key", "configured (RUNPOD_API_KEY)")
        }
        Some(_) => check(Level::Ok, "RunPod API key", "configured (app config)"),
        None => check(
            Level::Warn,
            "RunPod API key",
            "not set: needed for provider runpod (`llm-inf-bench config set runpod.api_key <key>` or RUNPOD_API_KEY)",
        ),
    });

    let prices = PriceTable::load(&dir);
    let today = chrono::Local::now().date_naive();
    let age = prices.age_days(today);
    checks.push(if prices.is_stale(today) {
        check(
            Level::Warn,
            "GPU pricing",
            format!(
                "{} table is {age} days old (updated {}); run `llm-inf-bench update-pricing`",
                prices.source, prices.last_updated
            ),
        )
    } else {
        check(
            Level::Ok,
            "GPU pricing",
            format!(
                "{} table from {} ({age} days old)",
                prices.source, prices.last_updated
            ),
        )
    });

    checks.push(reachability(&app.api_url()).await);
    checks.push(leftover_pods(&dir));
    render(&checks, globals, out)
}

fn app_config_check(dir: &Path, checks: &mut Vec<Check>) -> AppConfig {
    let path = app_config::config_path(dir);
    match AppConfig::load(dir) {
        Ok(cfg) if path.exists() => {
            checks.push(check(Level::Ok, "app config", path.display().to_string()));
            cfg
        }
        Ok(cfg) => {
            checks.push(check(
                Level::Warn,
                "app config",
                format!(
                    "{} does not exist; run `llm-inf-bench init`",
                    path.display()
                ),
            ));
            cfg
        }
        Err(e) => {
            checks.push(check(Level::Fail, "app config", e.to_string()));
            AppConfig::default()
        }
    }
}

/// The provider API answers at all (any HTTP status counts as reachable). WARN only.
async fn reachability(api_url: &str) -> Check {
    let url = format!("{}/v2/catalog/gpus", api_url.trim_end_matches('/'));
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(c) => c,
        Err(e) => return check(Level::Warn, "RunPod API", format!("no HTTP client: {e}")),
    };
    match client.get(&url).send().await {
        Ok(resp) => check(
            Level::Ok,
            "RunPod API",
            format!("{api_url} reachable (HTTP {})", resp.status().as_u16()),
        ),
        Err(e) => check(
            Level::Warn,
            "RunPod API",
            format!("{api_url} not reachable: {}", crate::cli::format_error(&e)),
        ),
    }
}

fn leftover_pods(dir: &Path) -> Check {
    let ledger = Ledger::new(dir);
    match ledger.load() {
        Ok(pods) if pods.is_empty() => check(Level::Ok, "leftover pods", "none recorded"),
        Ok(pods) => {
            let ids: Vec<String> = pods.iter().map(|p| p.pod_id.clone()).collect();
            check(
                Level::Warn,
                "leftover pods",
                format!(
                    "{} pod(s) started by this tool were not terminated: {}; check with `llm-inf-bench server status`, stop with `llm-inf-bench server stop <pod-id>`",
                    ids.len(),
                    ids.join(", ")
                ),
            )
        }
        Err(e) => check(
            Level::Warn,
            "leftover pods",
            format!("cannot read the pod ledger: {e}"),
        ),
    }
}

fn render(checks: &[Check], globals: &Globals, out: &mut dyn Write) -> Result<u8, CliError> {
    let style = globals.style;
    for c in checks {
        let tag = match c.level {
            Level::Ok => style.green("OK  "),
            Level::Warn => style.yellow("WARN"),
            Level::Fail => style.red("FAIL"),
        };
        writeln!(out, "{tag}  {:<16} {}", c.name, c.detail)?;
    }
    Ok(if checks.iter().any(|c| c.level == Level::Fail) {
        exit::FAILURE
    } else {
        exit::SUCCESS
    })
}
