//! Proof of concept against the real RunPod REST v2 API.
//!
//!   RUNPOD_API_KEY=... cargo run --example runpod_api                 # GPU catalog with prices
//!   RUNPOD_API_KEY=... cargo run --example runpod_api -- --really-create [--gpu RTX-4090] [--secure]
//!
//! `--really-create` creates a small pod (CUDA base image sleeping), waits for RUNNING, prints
//! its status and cost, then terminates it — also on error or Ctrl-C. It costs a few cents.
//! `RUNPOD_API_URL` overrides the API root.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use llm_inf_bench::providers::runpod::model::{Cloud, CreateGpu, CreatePodRequest, PodStatus};
use llm_inf_bench::providers::runpod::{PriceTable, RunpodClient, RunpodSettings};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let really_create = args.iter().any(|a| a == "--really-create");
    let secure = args.iter().any(|a| a == "--secure");
    let gpu = args
        .iter()
        .position(|a| a == "--gpu")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "RTX-4090".to_string());

    let Ok(key) = std::env::var("RUNPOD_API_KEY") else {
        eprintln!("set RUNPOD_API_KEY first");
        std::process::exit(2);
    };
    let mut settings = RunpodSettings::new(key);
    if let Ok(url) = std::env::var("RUNPOD_API_URL") {
        settings.api_url = url;
    }
    let client = match RunpodClient::new(&settings) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };

    match client.gpu_catalog().await {
        Ok(gpus) => {
            println!(
                "{:<34} {:<22} {:>6} {:>10} {:>10}",
                "id", "name", "GB", "community", "secure"
            );
            for g in gpus {
                let p = |on: bool, v: Option<f64>| match (on, v) {
                    (true, Some(v)) => format!("{v:.2}"),
                    _ => "-".to_string(),
                };
                println!(
                    "{:<34} {:<22} {:>6} {:>10} {:>10}",
                    g.id,
                    g.name,
                    g.memory,
                    p(g.community, g.price.community),
                    p(g.secure, g.price.secure)
                );
            }
        }
        Err(e) => {
            eprintln!("catalog: {e}");
            std::process::exit(1);
        }
    }
    if !really_create {
        println!("\n(pass --really-create to create and terminate a pod)");
        return;
    }

    let prices = PriceTable::builtin();
    let gpu_id = prices
        .lookup(&gpu)
        .map(|g| g.runpod_id.clone())
        .unwrap_or(gpu);
    let request = CreatePodRequest {
        name: format!(
            "llm-inf-bench-poc-{}",
            chrono::Utc::now().format("%Y%m%d%H%M%S")
        ),
        image: "nvidia/cuda:12.4.1-base-ubuntu22.04".into(),
        args: Some("sleep 900".into()),
        gpu: CreateGpu {
            id: gpu_id,
            count: 1,
        },
        cloud: if secure {
            Cloud::Secure
        } else {
            Cloud::Community
        },
        disk: 10,
        ports: vec!["8000/http".into()],
        env: BTreeMap::new(),
    };
    println!("\ncreating {} on {} ...", request.name, request.gpu.id);
    let started = Instant::now();
    let created = match client.create_pod(&request, &CancellationToken::new()).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("create failed: {e}");
            std::process::exit(1);
        }
    };
    let id = created.pod.id.clone();
    println!(
        "created {id} in {:.1}s (adopted: {}), status {}",
        started.elapsed().as_secs_f64(),
        created.adopted,
        created.pod.status
    );

    let wait = async {
        loop {
            match client.get_pod(&id).await {
                Ok(p) => {
                    println!(
                        "  {:>5.0}s  {}  cost {:?}/h",
                        started.elapsed().as_secs_f64(),
                        p.status,
                        p.cost
                    );
                    if p.status == PodStatus::Running || p.status.is_dead() {
                        break;
                    }
                }
                Err(e) => println!("  poll error: {e}"),
            }
            if started.elapsed() > Duration::from_secs(600) {
                println!("  gave up waiting");
                break;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    };
    tokio::select! {
        _ = wait => {}
        _ = tokio::signal::ctrl_c() => println!("interrupted"),
    }
    println!("proxy URL would be {}", settings.proxy_url(&id, 8000));
    match client.terminate_pod(&id).await {
        Ok(t) => println!("terminate {id}: {t:?}"),
        Err(e) => {
            eprintln!("TERMINATE FAILED for {id}: {e} — terminate it in the RunPod console!");
            std::process::exit(1);
        }
    }
}
