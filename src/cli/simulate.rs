//! `llm-inf-bench simulate`: run the simulated server standalone until told to stop.

use std::future::Future;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};

use crate::config::Framework;
use crate::sim::{SimProfile, SimServer, DEFAULT_MODEL};

/// Serve on `127.0.0.1:port` (0 picks a free port) as model `sim-model`, print one line saying
/// where, and stop gracefully when `shutdown` resolves.
pub async fn simulate(
    framework: Framework,
    profile: SimProfile,
    port: u16,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let server = SimServer::start(framework, profile, DEFAULT_MODEL, addr).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "Simulated {framework} server listening on {} (model: {DEFAULT_MODEL})",
            server.base_url()
        )?;
        out.flush()?;
    }
    shutdown.await;
    server.shutdown().await;
    Ok(())
}
