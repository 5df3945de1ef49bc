//! The dashboard's API and WebSocket, in-process on 127.0.0.1:0: the security rules (token,
//! Host, Origin, path confinement) and a simulated run started, watched and stopped over the
//! socket.

mod support;

use serde_json::{json, Value};
use support::dashboard::{status, Dash, Ws};

#[tokio::test]
async fn without_the_token_every_route_is_401() {
    let d = Dash::start().await;
    let plain = reqwest::Client::new();
    for path in [
        "/",
        "/api/configs",
        "/api/results",
        "/api/status",
        "/api/results/x",
    ] {
        assert_eq!(status(plain.get(d.url(path))).await, 401, "{path}");
    }
    assert_eq!(
        status(plain.get(d.url("/api/status")).bearer_auth("0".repeat(32))).await,
        401
    );
    let ws = Ws::connect_with(&d, d.ws_url(None), None).await;
    assert_eq!(ws.err(), Some(401), "a WebSocket without the token");
}

#[tokio::test]
async fn the_token_in_the_url_sets_a_cookie_that_then_works_alone() {
    let d = Dash::start().await;
    let client = reqwest::Client::new();
    let first = client
        .get(d.url(&format!("/?token={}", d.token)))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let cookie = first.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    let page = first.text().await.unwrap();
    assert!(page.contains("\"mode\":\"dashboard\""));
    assert_eq!(
        status(client.get(d.url("/api/status")).header("cookie", pair)).await,
        200
    );
}

#[tokio::test]
async fn a_foreign_host_is_403_even_with_the_token() {
    let d = Dash::start().await;
    for host in [
        "evil.example",
        "evil.example:8420",
        "127.0.0.1.evil.example",
    ] {
        assert_eq!(
            status(d.get("/api/status").header("host", host)).await,
            403,
            "{host}"
        );
    }
    assert_eq!(
        status(d.get("/api/status").header("host", "localhost")).await,
        200
    );
}

#[tokio::test]
async fn cross_origin_posts_and_websocket_upgrades_are_403() {
    let d = Dash::start().await;
    let body = json!({"config_path": "sim.yaml"});
    assert_eq!(
        status(
            d.post("/api/runs")
                .header("origin", "http://evil.example")
                .json(&body)
        )
        .await,
        403
    );
    assert_eq!(
        status(d.post("/api/runs/x/stop").header("origin", "null")).await,
        403
    );
    let ws = Ws::connect_with(&d, d.ws_url(Some(&d.token)), Some("http://evil.example")).await;
    assert_eq!(ws.err(), Some(403));
    // The same origin is fine.
    let own = format!("http://{}", d.addr);
    let ws = Ws::connect_with(&d, d.ws_url(Some(&d.token)), Some(&own)).await;
    assert!(ws.is_ok(), "same-origin upgrade refused");
}

#[tokio::test]
async fn paths_out_of_their_folders_are_404() {
    let d = Dash::start().await;
    std::fs::write(d.root.path().join("secret.json"), "{}").unwrap();
    std::fs::write(d.root.path().join("secret.yaml"), "name: x").unwrap();
    for path in [
        "/api/results/..%2Fsecret",
        "/api/results/..",
        "/api/results/%2E%2E%2Fsecret",
        "/api/configs/preview?path=../secret.yaml",
        "/api/configs/preview?path=%2Fetc%2Fpasswd",
        "/api/configs/preview?path=sub%2F..%2F..%2Fsecret.yaml",
    ] {
        let r = d.get(path).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    assert_eq!(
        status(
            d.post("/api/runs")
                .json(&json!({"config_path": "../secret.yaml"}))
        )
        .await,
        404
    );
    let mut ws = Ws::connect(&d).await;
    ws.send(json!({"type": "start_experiment", "config_path": "../secret.yaml", "confirm": true}))
        .await;
    let reply = ws.next_of(&["error"]).await;
    assert!(
        reply["message"].as_str().unwrap().contains("not found"),
        "{reply}"
    );
}

#[tokio::test]
async fn configs_and_preview_list_what_the_form_needs() {
    let d = Dash::start().await;
    let list: Vec<Value> = d.get_json("/api/configs").await;
    let rels: Vec<&str> = list
        .iter()
        .map(|c| c["relative"].as_str().unwrap())
        .collect();
    assert!(
        rels.contains(&"sim.yaml") && rels.contains(&"paid.yaml"),
        "{rels:?}"
    );
    let p: Value = d.get_json("/api/configs/preview?path=paid.yaml").await;
    assert_eq!(p["provider"], "runpod");
    assert_eq!(p["cost"]["needs_confirmation"], true, "{p}");
    assert!(p["plan"].as_str().unwrap().contains("paid"), "{p}");
    assert_eq!(
        status(d.get("/api/configs/preview?path=broken.yaml")).await,
        400
    );
}

#[tokio::test]
async fn a_paid_run_needs_the_confirmation_first() {
    let d = Dash::start().await;
    let r = d
        .post("/api/runs")
        .json(&json!({"config_path": "paid.yaml"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "confirm_required");
    assert!(body["cost"]["high_usd"].as_f64().unwrap() >= 0.5);
    let status: Value = d.get_json("/api/status").await;
    assert_eq!(status["active_run"], Value::Null);
    assert_eq!(status["queued_runs"], json!([]));
}

#[tokio::test]
async fn a_run_from_the_socket_streams_to_every_tab_and_a_second_start_is_queued() {
    let d = Dash::start().await;
    let mut a = Ws::connect(&d).await;
    let mut b = Ws::connect(&d).await;
    // A tab that only watches.
    let mut watcher = Ws::connect(&d).await;
    a.send(json!({"type": "start_experiment", "config_path": "sim.yaml", "run_name": "first"}))
        .await;
    let started = a.next_of(&["experiment_started"]).await;
    let first = started["run_id"].as_str().unwrap().to_string();
    b.send(json!({"type": "start_experiment", "config_path": "sim.yaml", "run_name": "second"}))
        .await;
    let queued = b.next_of(&["experiment_started"]).await;
    assert_eq!(queued["queued"], true, "{queued}");
    let second = queued["run_id"].as_str().unwrap().to_string();

    // A tab that started neither sees the first run whole, then the second.
    for run in [&first, &second] {
        let msgs = watcher.until_done(run).await;
        let phases: Vec<&str> = msgs
            .iter()
            .filter(|m| m["type"] == "phase" && m["run_id"] == run.as_str())
            .map(|m| m["phase"].as_str().unwrap())
            .collect();
        for p in [
            "provisioning",
            "model_loading",
            "execution",
            "cleanup",
            "done",
        ] {
            assert!(phases.contains(&p), "{p} missing from {phases:?}: {msgs:?}");
        }
        let done = msgs
            .iter()
            .filter(|m| m["type"] == "request_complete")
            .count();
        assert_eq!(done, 12, "request_complete messages of {run}");
        assert!(msgs.iter().any(|m| m["type"] == "summary"));
        let last = msgs.last().unwrap();
        assert_eq!(last["data"]["status"], "completed", "{last}");
    }
    let results: Vec<Value> = d.get_json("/api/results").await;
    assert_eq!(results.len(), 2);
    let id = results[0]["id"].as_str().unwrap();
    let one: Value = d.get_json(&format!("/api/results/{id}")).await;
    assert_eq!(one["requests"].as_array().unwrap().len(), 12);
    assert_eq!(one["chart"]["e2e_ms"].as_array().unwrap().len(), 12);
    let status: Value = d.get_json("/api/status").await;
    assert_eq!(status["completed_runs"].as_array().unwrap().len(), 2);
    assert_eq!(status["connected_clients"], 3);
    // A tab that connects now still gets the last run replayed.
    let mut late = Ws::connect(&d).await;
    let replay = late.until_done(&second).await;
    assert_eq!(
        replay
            .iter()
            .filter(|m| m["type"] == "request_complete")
            .count(),
        12
    );
}

#[tokio::test]
async fn stop_saves_a_partial_result_like_ctrl_c() {
    let d = Dash::start().await;
    let mut ws = Ws::connect(&d).await;
    ws.send(json!({"type": "start_experiment", "config_path": "slow.yaml"}))
        .await;
    let run = ws.next_of(&["experiment_started"]).await["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    ws.next_of(&["request_complete"]).await;
    assert_eq!(status(d.post(&format!("/api/runs/{run}/stop"))).await, 200);
    let msgs = ws.until_done(&run).await;
    let last = msgs.last().unwrap();
    assert_eq!(last["data"]["status"], "stopped", "{last}");
    let ids = last["data"]["result_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 1, "the partial result is saved: {last}");
    let one: Value = d
        .get_json(&format!("/api/results/{}", ids[0].as_str().unwrap()))
        .await;
    assert_eq!(one["status"], "partial");
    let n = one["requests"].as_array().unwrap().len();
    assert!((1..400).contains(&n), "{n} requests in the partial result");
    // Nothing is left running.
    let status: Value = d.get_json("/api/status").await;
    assert_eq!(status["active_run"], Value::Null);
}
