//! `llm-inf-bench simulate`: run the simulated server standalone until told to stop.

use std::future::Future;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};

use super::args::{FrameworkArg, SimulateArgs};
use super::{exit, CliError};
use crate::config::Framework;
use crate::sim::{SimProfile, SimServer, ANY_MODEL, DEFAULT_MODEL};

/// `simulate` with its flags: profile file, then flags on top; serves until Ctrl-C / SIGTERM.
pub async fn run(args: &SimulateArgs) -> Result<u8, CliError> {
    let mut profile = match &args.profile {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::Message(format!("cannot read profile {}: {e}", path.display()))
            })?;
            serde_yaml::from_str::<SimProfile>(&text).map_err(|e| {
                CliError::Message(format!(
                    "{}: invalid simulation profile: {e}",
                    path.display()
                ))
            })?
        }
        None => SimProfile::default(),
    };
    if let Some(v) = args.seed {
        profile.seed = v;
    }
    if let Some(v) = args.max_num_seqs {
        profile.max_num_seqs = v;
    }
    if let Some(v) = args.kv_cache_tokens {
        profile.kv_cache_tokens = v;
    }
    if let Some(v) = args.decode_step_ms {
        profile.decode_step_ms = v;
    }
    if let Some(v) = args.base_ttft_ms {
        profile.base_ttft_ms = v;
    }
    if let Some(v) = args.error_rate {
        profile.error_rate = v;
    }
    if let Some(v) = args.disconnect_rate {
        profile.disconnect_rate = v;
    }
    profile
        .validate()
        .map_err(|e| CliError::Message(e.to_string()))?;
    let framework = match args.framework {
        FrameworkArg::Vllm => Framework::Vllm,
        FrameworkArg::Sglang => Framework::Sglang,
    };
    let api_key = simulator_key(args.api_key.as_deref(), &mut profile)?;
    let stop = super::run::shutdown_token()?;
    let model = args.model.as_deref().unwrap_or(DEFAULT_MODEL);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let server = SimServer::start_secured(framework, profile, model, addr, None, api_key).await?;
    announce(&server, framework, model)?;
    stop.cancelled_owned().await;
    server.shutdown().await;
    Ok(exit::SUCCESS)
}

/// `--api-key`, required when the profile says `require_api_key` (the key is never printed,
/// so `simulate` cannot make one up).
fn simulator_key(
    given: Option<&str>,
    profile: &mut SimProfile,
) -> Result<Option<crate::redact::Secret>, CliError> {
    match given.map(str::trim) {
        Some("") => Err(CliError::Message("--api-key must not be empty".into())),
        Some(key) => {
            profile.require_api_key = true;
            Ok(Some(crate::redact::Secret::new(key)))
        }
        None if profile.require_api_key => Err(CliError::Message(
            "the profile sets require_api_key: give the key with --api-key".into(),
        )),
        None => Ok(None),
    }
}

/// Serve on `127.0.0.1:port` (0 picks a free port) as `served_model` (`*`: any name), print
/// one line saying where, and stop gracefully when `shutdown` resolves.
pub async fn simulate(
    framework: Framework,
    profile: SimProfile,
    served_model: &str,
    port: u16,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let server = SimServer::start(framework, profile, served_model, addr).await?;
    announce(&server, framework, served_model)?;
    shutdown.await;
    server.shutdown().await;
    Ok(())
}

/// The one line saying where the simulator listens.
fn announce(server: &SimServer, framework: Framework, served_model: &str) -> std::io::Result<()> {
    let shown = if served_model == ANY_MODEL {
        "any name"
    } else {
        served_model
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Simulated {framework} server listening on {} (model: {shown}); Ctrl-C to stop",
        server.base_url()
    )?;
    out.flush()
}
