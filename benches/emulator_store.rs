//! Whether the sandbox's cost per request is flat in the size of the tenant: for each kind of
//! request appreg's observe and apply send, and the ones the Python SDK scenario (tests/sdk) sends,
//! the server-side time per request (the sandbox's request log, injected latency none) at 1,000
//! and 10,000 apps, and how it grows.
//!
//! The tenant is made by appreg itself (observe, plan, apply of a generated manifest, no latency):
//! every app has a service principal, a delegated grant, two application permissions, two
//! assignments and a federated credential (`common::write_manifest`, as in every scale bench). The sandbox measured is
//! then a fresh one started from the saved state file, as `appreg sandbox` starts on an existing
//! tenant: this benchmark runs appreg and the sandbox in one process, and a tenant written by an
//! apply here leaves the sandbox's objects interleaved with the client's freed allocations, which
//! slowed 999-item pages by a third at 10,000 apps through memory locality alone (the same
//! requests, the same work; benches/emulator_store.md). Each request kind is
//! then sent for `SAMPLES` different apps spread over the tenant, one at a time (no contention);
//! the later pages of the tag lists are the `@odata.nextLink`s of a full read, taken in turn.
//! Last, user reads are timed while a second client pages through the applications list in a
//! loop: whether a short request waits behind a long one.
//!
//! Run: `cargo bench --bench emulator_store` (sizes: `APPREG_BENCH_SIZES=1000,10000`). Prints a
//! Markdown table; asserts only that every request succeeds.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use appreg::emulator::{EntryKind, Sandbox, SandboxConfig};
use appreg::engine::{self, PlanOptions};
use appreg::graph::{Request, odata};
use serde_json::{Value, json};

const SAMPLES: usize = 50;
const SET: &str = "bench";
const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
const EXCHANGE_APP_ID: &str = "00000002-0000-0ff1-ce00-000000000000";

fn sizes() -> Vec<usize> {
    std::env::var("APPREG_BENCH_SIZES")
        .ok()
        .map(|t| t.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![1000, 10_000])
}

/// Ids of one app of the tenant.
struct App {
    unique_name: String,
    object_id: String,
    app_id: String,
    sp_id: String,
}

/// What some request kinds need besides the app: the later pages of the two tag lists (every
/// page after the first, as `@odata.nextLink` gave them) and an application permission of
/// Microsoft Graph that no app holds yet.
struct Tenant {
    app_pages: Vec<Request>,
    sp_pages: Vec<Request>,
    graph_sp_id: String,
    spare_role_id: String,
}

/// A request kind: its label and how to build it for the `i`th sample's app.
type Kind = (&'static str, fn(&App, &Tenant, usize) -> Request);

/// The request a `@odata.nextLink` names.
fn next_request(link: &str) -> Request {
    let url = url::Url::parse(link).expect("nextLink is a URL");
    let path = url.path().strip_prefix("/v1.0").unwrap_or(url.path());
    url.query_pairs()
        .fold(Request::get(path), |request, (k, v)| request.query(k, v))
}

/// The requests for every page after the first of a list.
async fn later_pages(client: &appreg::graph::GraphClient, first: Request) -> Vec<Request> {
    let next_link = |answer: appreg::graph::Response| {
        answer
            .body
            .and_then(|b| b["@odata.nextLink"].as_str().map(next_request))
    };
    let mut pages = Vec::new();
    let mut next = next_link(client.send(first).await.expect("list page"));
    while let Some(request) = next {
        pages.push(request.clone());
        next = next_link(client.send(request).await.expect("list page"));
    }
    pages
}

/// The request kinds, each built for one app.
fn kinds() -> Vec<Kind> {
    vec![
        (
            "GET /applications?$filter=tags/any&$expand=owners&$top=999 (first page)",
            |_, _, _| app_list(),
        ),
        (
            "GET /applications?…&$skiptoken (later pages)",
            |_, t, i| t.app_pages[i % t.app_pages.len()].clone(),
        ),
        (
            "GET /servicePrincipals?$filter=tags/any&$select&$top=999 (first page)",
            |_, _, _| sp_list(),
        ),
        (
            "GET /servicePrincipals?…&$skiptoken (later pages)",
            |_, t, i| t.sp_pages[i % t.sp_pages.len()].clone(),
        ),
        (
            "GET /servicePrincipals?$filter=appId in (…)&$select",
            |_, _, _| {
                Request::get("/servicePrincipals")
                    .query(
                        "$filter",
                        format!("appId in ('{GRAPH_APP_ID}','{EXCHANGE_APP_ID}')"),
                    )
                    .query(
                        "$select",
                        "id,appId,displayName,appRoles,oauth2PermissionScopes",
                    )
            },
        ),
        (
            "GET /applications?$filter=uniqueName in (…)&$expand=owners",
            |a, _, _| {
                Request::get("/applications")
                    .query(
                        "$filter",
                        format!("uniqueName in ({})", odata::quote(&a.unique_name)),
                    )
                    .query("$expand", "owners")
            },
        ),
        (
            "GET /applications(uniqueName='…')?$expand=owners",
            |a, _, _| {
                Request::get(format!(
                    "/applications(uniqueName={})",
                    odata::key(&a.unique_name)
                ))
                .query("$expand", "owners")
            },
        ),
        ("GET /applications(appId='…') (SDK)", |a, _, _| {
            Request::get(format!("/applications(appId={})", odata::key(&a.app_id)))
        }),
        ("GET /servicePrincipals(appId='…')", |a, _, _| {
            Request::get(format!(
                "/servicePrincipals(appId={})",
                odata::key(&a.app_id)
            ))
        }),
        ("GET /servicePrincipals/{id} (SDK)", |a, _, _| {
            Request::get(format!("/servicePrincipals/{}", a.sp_id))
        }),
        (
            "GET /applications/{id}/federatedIdentityCredentials",
            |a, _, _| {
                Request::get(format!(
                    "/applications/{}/federatedIdentityCredentials",
                    a.object_id
                ))
            },
        ),
        (
            "GET /applications/{id}/federatedIdentityCredentials(name='…') (SDK)",
            |a, _, _| {
                Request::get(format!(
                    "/applications/{}/federatedIdentityCredentials(name='github-deploy')",
                    a.object_id
                ))
            },
        ),
        (
            "GET /oauth2PermissionGrants?$filter=clientId eq",
            |a, _, _| {
                Request::get("/oauth2PermissionGrants")
                    .query("$filter", format!("clientId eq '{}'", a.sp_id))
            },
        ),
        (
            "GET /servicePrincipals/{id}/appRoleAssignedTo",
            |a, _, _| Request::get(format!("/servicePrincipals/{}/appRoleAssignedTo", a.sp_id)),
        ),
        (
            "GET /servicePrincipals/{id}/appRoleAssignments",
            |a, _, _| Request::get(format!("/servicePrincipals/{}/appRoleAssignments", a.sp_id)),
        ),
        ("GET /users/{upn}?$select", |_, _, _| {
            Request::get("/users/adele.vance@contoso.com").query("$select", "id,userPrincipalName")
        }),
        ("GET /groups?$filter=displayName eq&$select", |_, _, _| {
            Request::get("/groups")
                .query("$filter", "displayName eq 'All staff'")
                .query("$select", "id,displayName")
        }),
        (
            "POST /servicePrincipals/{id}/appRoleAssignedTo (application permission)",
            |a, t, _| {
                Request::post(
                    format!("/servicePrincipals/{}/appRoleAssignedTo", t.graph_sp_id),
                    json!({
                        "principalId": a.sp_id,
                        "resourceId": t.graph_sp_id,
                        "appRoleId": t.spare_role_id,
                    }),
                )
            },
        ),
        (
            "PATCH /applications(uniqueName='…') (upsert, unchanged)",
            |a, _, _| {
                Request::patch(
                    format!("/applications(uniqueName={})", odata::key(&a.unique_name)),
                    json!({ "notes": "store bench" }),
                )
                .header("Prefer", "create-if-missing")
            },
        ),
    ]
}

/// The first page of the set's applications, as observe asks for it.
fn app_list() -> Request {
    Request::get("/applications")
        .query("$filter", tag_filter())
        .query("$expand", "owners")
        .query("$top", "999")
}

/// The first page of the set's service principals, as observe asks for it.
fn sp_list() -> Request {
    Request::get("/servicePrincipals")
        .query("$filter", tag_filter())
        .query("$select", "id,appId,displayName,tags")
        .query("$top", "999")
}

/// The filter observe lists the set's apps and principals with.
fn tag_filter() -> String {
    format!(
        "tags/any(t:t eq {})",
        odata::quote(&format!("appreg:set={SET}"))
    )
}

/// Median server-side µs per request of each kind, at one size.
async fn measure(n: usize) -> BTreeMap<&'static str, f64> {
    let dir = tempfile::tempdir().expect("temp dir");
    let (paths, _) = common::write_manifest(dir.path(), SET, n);
    let state = appreg::manifest::load(&paths, &|_: &str| None)
        .expect("valid manifest")
        .state;
    let state_file = dir.path().join("tenant.json");
    let sandbox = Sandbox::start(SandboxConfig {
        state_file: Some(state_file.clone()),
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox");
    let client = common::client_for(&sandbox, 8);
    let sinks = appreg::credentials::Sinks::new(None, &|_| None);
    let started = Instant::now();
    let tenant = sandbox.tenant_id().to_string();
    let options = || PlanOptions {
        prune: false,
        caller: None,
        ..Default::default()
    };
    let (observed, planned) = engine::plan(&client, &sinks, &state, &tenant, options())
        .await
        .expect("plan");
    let report = engine::apply::apply(&client, &sinks, &state, &observed, &planned)
        .await
        .expect("apply");
    assert!(report.failed.is_empty(), "apply failed");
    // Measured: a sandbox started on the saved tenant (see the top of this file).
    sandbox.shutdown().await;
    let sandbox = Sandbox::start(SandboxConfig {
        state_file: Some(state_file.clone()),
        persist: false,
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox from its state file");
    let client = common::client_for(&sandbox, 8);
    let (observed, _) = engine::plan(&client, &sinks, &state, &tenant, options())
        .await
        .expect("plan");
    eprintln!(
        "[emulator_store] N={n}: tenant made by appreg in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let apps: Vec<App> = observed
        .apps
        .values()
        .zip(state.apps.values())
        .filter_map(|(live, desired)| {
            let app = live.application.as_ref()?;
            let sp = live.service_principal.as_ref()?;
            let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
            Some(App {
                unique_name: desired.unique_name.clone(),
                object_id: text(app, "id")?,
                app_id: text(app, "appId")?,
                sp_id: text(sp, "id")?,
            })
        })
        .collect();
    assert_eq!(apps.len(), n);
    let graph = client
        .send(
            Request::get(format!("/servicePrincipals(appId='{GRAPH_APP_ID}')"))
                .query("$select", "id,appRoles"),
        )
        .await
        .expect("Microsoft Graph's principal")
        .body
        .unwrap_or_default();
    let spare_role_id = graph["appRoles"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|role| role["value"] == "Application.Read.All")
        .and_then(|role| role["id"].as_str())
        .expect("Application.Read.All role")
        .to_string();
    let tenant = Tenant {
        app_pages: later_pages(&client, app_list()).await,
        sp_pages: later_pages(&client, sp_list()).await,
        graph_sp_id: graph["id"].as_str().expect("id").to_string(),
        spare_role_id,
    };
    let mut out = BTreeMap::new();
    for (what, build) in kinds() {
        sandbox.clear_log();
        for i in 0..SAMPLES {
            let app = &apps[i * n / SAMPLES];
            client
                .send(build(app, &tenant, i))
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
        }
        let mut times: Vec<f64> = sandbox
            .request_log()
            .requests
            .iter()
            .filter(|e| e.kind == EntryKind::Graph)
            .map(|e| e.latency_ms * 1000.0)
            .collect();
        times.sort_by(f64::total_cmp);
        out.insert(
            what,
            times.get(times.len() / 2).copied().unwrap_or(f64::NAN),
        );
    }
    // Contention: user reads while a second client pages through the applications list.
    let reader_client = common::client_for(&sandbox, 1);
    let stop = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn({
        let stop = stop.clone();
        let pages = tenant.app_pages.clone();
        async move {
            while !stop.load(Ordering::Relaxed) {
                for request in std::iter::once(app_list()).chain(pages.iter().cloned()) {
                    reader_client.send(request).await.expect("list page");
                }
            }
        }
    });
    // Let the reader start.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    sandbox.clear_log();
    for _ in 0..SAMPLES {
        client
            .send(
                Request::get("/users/adele.vance@contoso.com")
                    .query("$select", "id,userPrincipalName"),
            )
            .await
            .expect("user read");
    }
    stop.store(true, Ordering::Relaxed);
    let log = sandbox.request_log();
    reader.await.expect("reader");
    let mut users: Vec<f64> = log
        .requests
        .iter()
        .filter(|e| e.kind == EntryKind::Graph && e.path.starts_with("/v1.0/users"))
        .map(|e| e.latency_ms * 1000.0)
        .collect();
    users.sort_by(f64::total_cmp);
    out.insert(
        CONTENDED_MEDIAN,
        users.get(users.len() / 2).copied().unwrap_or(f64::NAN),
    );
    out.insert(CONTENDED_MAX, users.last().copied().unwrap_or(f64::NAN));
    sandbox.shutdown().await;
    out
}

const CONTENDED_MEDIAN: &str =
    "GET /users/{upn}?$select beside a client paging the applications list: median";
const CONTENDED_MAX: &str =
    "GET /users/{upn}?$select beside a client paging the applications list: slowest";

fn main() {
    let sizes = sizes();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let results: Vec<(usize, BTreeMap<&str, f64>)> = sizes
        .iter()
        .map(|&n| (n, runtime.block_on(measure(n))))
        .collect();
    println!("# emulator_store: server time per request (median µs of {SAMPLES}, one at a time)\n");
    print!("| request |");
    for (n, _) in &results {
        print!(" N={n} |");
    }
    if results.len() > 1 {
        print!(" last / first |");
    }
    println!();
    print!("|---|");
    for _ in &results {
        print!("---:|");
    }
    if results.len() > 1 {
        print!("---:|");
    }
    println!();
    let labels = kinds()
        .into_iter()
        .map(|(what, _)| what)
        .chain([CONTENDED_MEDIAN, CONTENDED_MAX]);
    for what in labels {
        print!("| {what} |");
        for (_, by_kind) in &results {
            print!(" {:.0} |", by_kind[what]);
        }
        if let (Some(first), Some(last)) = (results.first(), results.last())
            && results.len() > 1
        {
            print!(" {:.2} |", last.1[what] / first.1[what]);
        }
        println!();
    }
    println!(
        "\nThe first pages of the tag lists carry 999 apps whatever N (above 999): their time is the page's, not the tenant's. Total bench time: {:.0} s.",
        started.elapsed().as_secs_f64()
    );
}
