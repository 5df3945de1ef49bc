//! `dashboard` (serve the live page) and `report` (write the self-contained HTML file).

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::args::{DashboardArgs, ReportArgs, RunArgs};
use super::{exit, CliError};
use crate::app_config::{self, AppConfig};
use crate::config::ProviderKind;
use crate::output::dashboard::{self, runs::ProviderFactory, DashboardConfig};
use crate::providers::{self, runpod::pricing::PriceTable, Provider};

/// Providers for runs started from the page: the same choice as `run`.
pub fn provider_factory(results_dir: PathBuf) -> ProviderFactory {
    Arc::new(move |exp, req| {
        if req.server_url.is_some() {
            return Ok(None);
        }
        let provider: Box<dyn Provider> = match exp.infrastructure.provider {
            ProviderKind::Simulated => Box::new(providers::simulated::SimulatedProvider::new()),
            ProviderKind::Local => {
                let name = req.run_name.clone().unwrap_or_else(|| exp.name.clone());
                let id = crate::results::storage::new_run_id(&name, chrono::Local::now());
                let log = results_dir.join(format!("{id}-server.log"));
                Box::new(providers::local::LocalProvider::new(log, false))
            }
            ProviderKind::Runpod => {
                let dir = app_config::app_dir().map_err(|e| e.to_string())?;
                let app = AppConfig::load(&dir).map_err(|e| e.to_string())?;
                let prices = PriceTable::load(&dir);
                // The page asked for (and got) the cost confirmation before this point.
                let args = RunArgs {
                    config: req.config_path.clone(),
                    dry_run: false,
                    confirm: true,
                    server_url: None,
                    name: req.run_name.clone(),
                    model: None,
                    keep_server: false,
                    output_dir: Some(results_dir.clone()),
                    resume: None,
                    health_timeout: None,
                    repeat: None,
                    api_key: None,
                    percentiles: None,
                };
                let today = chrono::Local::now().date_naive();
                Box::new(
                    super::runpod::provider_for_run(exp, &prices, &app, &dir, &args, today)
                        .map_err(|e| super::format_error(&e))?,
                )
            }
        };
        Ok(Some(provider))
    })
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

pub async fn dashboard(args: &DashboardArgs, default_dir: &Path) -> Result<u8, CliError> {
    let results_dir = args
        .dir
        .clone()
        .unwrap_or_else(|| default_dir.to_path_buf());
    if !is_loopback(&args.host) {
        eprintln!(
            "warning: listening on {} — anyone who can reach it and learns the token can start runs that cost money; prefer 127.0.0.1 (use an SSH tunnel for remote access)",
            args.host
        );
    }
    let token = dashboard::security::new_token()?;
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
        .await
        .map_err(|e| {
            CliError::Message(format!(
                "cannot listen on {}:{}: {e} (pick another --port, or 0 for a free one)",
                args.host, args.port
            ))
        })?;
    let addr = listener.local_addr()?;
    let (app, state) = dashboard::router(DashboardConfig {
        results_dir: results_dir.clone(),
        experiments_dir: args.experiments.clone(),
        token: token.clone(),
        factory: provider_factory(results_dir.clone()),
    });
    let shown_host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    let shown_host = if shown_host.contains(':') {
        format!("[{shown_host}]")
    } else {
        shown_host
    };
    let url = format!("http://{shown_host}:{}/?token={token}", addr.port());
    println!("Dashboard: {url}");
    println!(
        "Results: {}  Configs: {}  (Ctrl-C stops the active run, tears it down, then exits)",
        results_dir.display(),
        args.experiments.display()
    );
    let _ = std::io::stdout().flush();
    if !args.no_open {
        open_browser(&url);
    }
    let mut signals = super::run::SignalStreams::install()?;
    let shutdown = async move {
        signals.next_signal().await;
        eprintln!("\nStopping: the active run saves its partial result and tears down...");
        state.hub.shutdown().await;
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(exit::SUCCESS)
}

/// Best effort: a missing opener only means the user copies the URL.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let _ = std::process::Command::new(opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

pub fn report(args: &ReportArgs, default_dir: &Path, out: &mut dyn Write) -> Result<u8, CliError> {
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| default_dir.to_path_buf());
    let mut results = Vec::new();
    for reference in &crate::matrix::summary::expand_references(&args.runs, &dir) {
        let path = crate::results::storage::resolve_run(reference, &dir)
            .map_err(|e| CliError::Message(super::format_error(&e)))?;
        results.push(
            crate::results::storage::load_result(&path)
                .map_err(|e| CliError::Message(super::format_error(&e)))?,
        );
    }
    let html = crate::output::report::render(&results)
        .map_err(|e| CliError::Message(format!("cannot build the report: {e}")))?;
    std::fs::write(&args.output, &html)
        .map_err(|e| CliError::Message(format!("cannot write {}: {e}", args.output.display())))?;
    writeln!(
        out,
        "Wrote {} ({} runs, {:.0} KB): open it in any browser, no network needed.",
        args.output.display(),
        results.len(),
        html.len() as f64 / 1024.0
    )?;
    Ok(exit::SUCCESS)
}
