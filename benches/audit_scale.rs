//! How `appreg audit` scales with the number of app registrations in a tenant, against the sandbox
//! with 50 ms of injected latency per HTTP round trip (no jitter).
//!
//! For each N (1,000 by default) a fresh sandbox gets N apps registered by hand (no appreg tags),
//! each with a client secret and a service principal, every tenth publishing an app role (so its
//! assignments are read too); then the latency is switched on and the
//! audit's reads (`appreg::audit::read`) and judgement run once. Printed: round trips (the
//! client's `RequestStats`, cross-checked with the emulator's request log), round trips per app
//! (target: at most 0.3) and wall time. It asserts that every app was read and judged, never
//! timing.
//!
//! Run: `cargo bench --bench audit_scale` or `APPREG_BENCH_SIZES=1000,10000 cargo bench --bench
//! audit_scale`; `APPREG_BENCH_LATENCY_MS` overrides the 50 ms.

mod common;

use std::time::{Duration, Instant};

use appreg::emulator::{Faults, Sandbox, SandboxConfig};
use appreg::graph::{GraphClient, Request};
use appreg::model::policy::Policy;
use futures_util::future::join_all;
use serde_json::json;

const TARGET_RT_PER_APP: f64 = 0.3;

fn sizes() -> Vec<usize> {
    std::env::var("APPREG_BENCH_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1000])
}

fn latency() -> Duration {
    let ms = std::env::var("APPREG_BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(50);
    Duration::from_millis(ms)
}

/// Registers app `i` by hand: the application, a secret, its service principal.
async fn register(client: &GraphClient, i: usize) {
    let mut body = json!({"displayName": format!("Hand-made app {i:05}"), "web": {"redirectUris": [format!("https://app{i}.example.com/cb")]}});
    if i.is_multiple_of(10) {
        // Every tenth app is an API publishing an app role: its assignments are read too.
        body["appRoles"] = json!([{
            "allowedMemberTypes": ["Application"], "description": "Read the API", "displayName": "Read",
            "id": uuid::Uuid::new_v4(), "isEnabled": true, "value": "Api.Read"
        }]);
    }
    let app: serde_json::Value = client
        .get_json(Request::post("/applications", body))
        .await
        .expect("create application");
    let (id, app_id) = (app["id"].as_str().unwrap(), app["appId"].as_str().unwrap());
    client
        .send(Request::post(
            format!("/applications/{id}/addPassword"),
            json!({"passwordCredential": {"displayName": "vendor"}}),
        ))
        .await
        .expect("add secret");
    client
        .send(Request::post(
            "/servicePrincipals",
            json!({"appId": app_id}),
        ))
        .await
        .expect("create service principal");
}

#[tokio::main]
async fn main() {
    let latency = latency();
    println!(
        "| apps | round trips | per app | target ≤ {TARGET_RT_PER_APP} | emulator requests | findings | wall time |"
    );
    println!("|---:|---:|---:|:--:|---:|---:|---:|");
    for n in sizes() {
        let sandbox = Sandbox::start(SandboxConfig::default())
            .await
            .expect("sandbox");
        let client = common::client_for(&sandbox, 8);
        eprintln!("registering {n} apps by hand");
        for chunk in (0..n).collect::<Vec<_>>().chunks(64) {
            join_all(chunk.iter().map(|&i| register(&client, i))).await;
        }
        sandbox.set_faults(Faults {
            latency,
            jitter: Duration::ZERO,
            ..Faults::default()
        });
        // A fresh client: its token is fetched inside the measured run, as a real audit would.
        let client = common::client_for(&sandbox, 8);
        sandbox.clear_log();
        eprintln!("auditing at {} ms", latency.as_millis());
        let started = Instant::now();
        let tenant = appreg::audit::read(&client).await.expect("audit read");
        let judged = appreg::audit::check::judge(&tenant, &Policy::default(), chrono::Utc::now());
        let wall = started.elapsed();
        assert!(
            tenant.applications.len() > n,
            "every app read (and the admin app)"
        );
        assert!(
            judged.findings.len() >= n,
            "every hand-made app has no owner at least"
        );
        let stats = client.stats();
        let logged = sandbox.request_log().requests.len();
        let per_app = stats.round_trips as f64 / n as f64;
        println!(
            "| {n} | {} | {per_app:.4} | {} | {logged} | {} | {:.2} s |",
            stats.round_trips,
            if per_app <= TARGET_RT_PER_APP {
                "met"
            } else {
                "missed"
            },
            judged.findings.len(),
            wall.as_secs_f64()
        );
        sandbox.shutdown().await;
    }
}
