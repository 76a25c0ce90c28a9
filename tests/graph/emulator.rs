//! End to end: appreg's Graph client and credentials against the sandbox Graph emulator, started
//! per test on 127.0.0.1:0. Counts and timings are read from the emulator's request log.

use std::sync::Arc;
use std::time::Duration;

use appreg::emulator::{EntryKind, Faults, RunningSandbox, Sandbox, SandboxConfig};
use appreg::graph::auth::{AuthMethod, ChainOptions, CredentialChain, Env, Scope, TokenSource};

/// The parts of Graph's `application` and `servicePrincipal` these tests read, typed here as any
/// consumer of the sandbox would.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Application {
    unique_name: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServicePrincipal {
    app_id: Option<String>,
}
use appreg::graph::{
    Backoff, Cloud, Endpoints, GraphClient, GraphConfig, GraphError, Request, odata,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

async fn sandbox(config: SandboxConfig) -> RunningSandbox {
    Sandbox::start(config).await.unwrap()
}

fn endpoints(sb: &RunningSandbox) -> Endpoints {
    Endpoints::for_cloud(Cloud::Global)
        .with_authority(url::Url::parse(sb.authority_url()).unwrap())
        .unwrap()
        .with_graph(url::Url::parse(sb.graph_url()).unwrap())
        .unwrap()
}

fn secret_env(sb: &RunningSandbox) -> Env {
    Env::from_pairs([
        ("AZURE_TENANT_ID", sb.tenant_id().to_string()),
        ("AZURE_CLIENT_ID", sb.admin_client_id().to_string()),
        ("AZURE_CLIENT_SECRET", sb.admin_client_secret().to_string()),
    ])
}

fn config(sb: &RunningSandbox) -> GraphConfig {
    let mut config = GraphConfig::new(url::Url::parse(sb.graph_url()).unwrap());
    config.request_timeout = Duration::from_secs(2);
    config.retry_budget = Duration::from_secs(20);
    config.max_attempts = 20;
    config.backoff = Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
    };
    config
}

fn client(sb: &RunningSandbox) -> GraphClient {
    let chain = CredentialChain::from_env(&secret_env(sb), &endpoints(sb), ChainOptions::default())
        .unwrap();
    GraphClient::new(config(sb), Arc::new(chain)).unwrap()
}

fn token_requests(sb: &RunningSandbox) -> usize {
    sb.request_log()
        .requests
        .iter()
        .filter(|e| e.kind == EntryKind::Token)
        .count()
}

#[tokio::test]
async fn secret_credential_lists_the_seeded_tenant_across_pages() {
    let sb = sandbox(SandboxConfig {
        faults: Faults {
            page_size_cap: Some(2),
            ..Faults::default()
        },
        ..SandboxConfig::default()
    })
    .await;
    let client = client(&sb);
    let sps: Vec<ServicePrincipal> = client
        .list(Request::get("/servicePrincipals").query("$select", "id,appId,displayName"))
        .await
        .unwrap();
    assert!(
        sps.len() >= 5,
        "seeded first-party service principals: {}",
        sps.len()
    );
    assert!(
        sps.iter()
            .any(|sp| sp.app_id.as_deref() == Some("00000003-0000-0000-c000-000000000000"))
    );
    let pages = sb
        .request_log()
        .requests
        .iter()
        .filter(|e| e.kind == EntryKind::Graph && e.path.starts_with("/v1.0/servicePrincipals"))
        .count();
    assert_eq!(pages, sps.len().div_ceil(2), "one request per page of two");
    assert!(pages >= 3);
    assert_eq!(client.stats().round_trips as usize, pages);
    assert_eq!(token_requests(&sb), 1, "one token for the whole run");
}

#[tokio::test]
async fn upsert_is_safe_to_repeat_and_names_are_quoted() {
    let sb = sandbox(SandboxConfig::default()).await;
    let client = client(&sb);
    let name = "o'brien-sync";
    let path = format!("/applications(uniqueName={})", odata::key(name));
    let body = json!({"displayName": "O'Brien sync", "tags": ["appreg:managed"]});
    let first = client
        .send(Request::upsert(&path, body.clone()))
        .await
        .unwrap();
    let second = client.send(Request::upsert(&path, body)).await.unwrap();
    assert_eq!((first.status, second.status), (201, 204));
    let app: Application = client
        .get_json(Request::get(&path).after_own_write())
        .await
        .unwrap();
    assert_eq!(app.unique_name.as_deref(), Some(name));
    let found: Vec<Application> = client
        .list(Request::get("/applications").query(
            "$filter",
            format!("displayName eq {}", odata::quote("O'Brien sync")),
        ))
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "one app, however often the upsert ran");
}

#[tokio::test]
async fn batch_under_throttling_completes_and_accounts_like_the_server() {
    let sb = sandbox(SandboxConfig {
        faults: Faults {
            throttle_probability: 0.3,
            retry_after: Duration::from_millis(50),
            ..Faults::default()
        },
        ..SandboxConfig::default()
    })
    .await;
    let client = client(&sb);
    let requests: Vec<Request> = (0..30)
        .map(|i| {
            Request::upsert(
                format!(
                    "/applications(uniqueName={})",
                    odata::key(&format!("batch-{i}"))
                ),
                json!({"displayName": format!("batch {i}")}),
            )
        })
        .collect();
    let results = client.batch(requests).await;
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    let log = sb.request_log();
    let stats = client.stats();
    assert!(log.counters.throttled > 0, "the fault was active");
    assert_eq!(
        stats.throttled, log.counters.throttled,
        "429s seen by both sides"
    );
    let graph_seen = log
        .requests
        .iter()
        .filter(|e| matches!(e.kind, EntryKind::Graph | EntryKind::BatchItem))
        .count() as u64;
    assert_eq!(stats.graph_requests, graph_seen);
    let apps: Vec<Application> = client
        .list(
            Request::get("/applications")
                .query("$filter", "startswith(displayName,'batch ')")
                .query("$top", "999"),
        )
        .await
        .unwrap();
    assert_eq!(apps.len(), 30, "every item landed exactly once");
}

#[tokio::test]
async fn retry_after_from_the_sandbox_is_honoured() {
    let sb = sandbox(SandboxConfig::default()).await;
    let client = client(&sb);
    client.send(Request::get("/applications")).await.unwrap();
    sb.set_faults(Faults {
        throttle_probability: 1.0,
        retry_after: Duration::from_millis(300),
        ..Faults::default()
    });
    let attempt = tokio::spawn({
        let client = client.clone();
        async move { client.send(Request::get("/servicePrincipals")).await }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    sb.set_faults(Faults::default());
    attempt.await.unwrap().unwrap();
    let times: Vec<_> = sb
        .request_log()
        .requests
        .iter()
        .filter(|e| e.path.starts_with("/v1.0/servicePrincipals"))
        .map(|e| e.timestamp)
        .collect();
    assert!(times.len() >= 2);
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= chrono::Duration::milliseconds(290),
            "{:?}",
            pair[1] - pair[0]
        );
    }
}

#[tokio::test]
async fn a_short_lived_token_is_refreshed_during_the_run() {
    let sb = sandbox(SandboxConfig {
        token_lifetime: Duration::from_secs(1),
        ..SandboxConfig::default()
    })
    .await;
    let client = client(&sb);
    client.send(Request::get("/applications")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    client.send(Request::get("/applications")).await.unwrap();
    assert_eq!(token_requests(&sb), 2);
    let rejected = sb
        .request_log()
        .requests
        .iter()
        .filter(|e| e.status == 401)
        .count();
    assert_eq!(rejected, 0, "refreshed before expiry, not after a 401");
}

#[tokio::test]
async fn a_lost_answer_to_a_post_is_reported_not_repeated() {
    let sb = sandbox(SandboxConfig::default()).await;
    let client = client(&sb);
    client.send(Request::get("/applications")).await.unwrap();
    sb.set_faults(Faults {
        reset_probability: 1.0,
        ..Faults::default()
    });
    let err = client
        .send(Request::post(
            "/applications",
            json!({"displayName": "lost answer"}),
        ))
        .await
        .unwrap_err();
    sb.set_faults(Faults::default());
    assert!(err.is_outcome_unknown(), "{err:?}");
    let posts = sb
        .request_log()
        .requests
        .iter()
        .filter(|e| e.method == "POST" && e.path == "/v1.0/applications")
        .count();
    assert_eq!(posts, 1, "sent once");
    let found: Vec<Application> = client
        .list(Request::get("/applications").query("$filter", "displayName eq 'lost answer'"))
        .await
        .unwrap();
    assert_eq!(
        found.len(),
        1,
        "the write happened once; re-reading tells the engine so"
    );
}

#[tokio::test]
async fn certificate_credential_against_the_sandbox() {
    let sb = sandbox(SandboxConfig::default()).await;
    let admin = client(&sb);
    let der = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/graph/client-cert.der"
    ))
    .unwrap();
    admin
        .send(Request::patch(
            format!("/applications(appId={})", odata::key(sb.admin_client_id())),
            json!({"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": STANDARD.encode(&der),
                "displayName": "test", "startDateTime": "2020-01-01T00:00:00Z", "endDateTime": "2100-01-01T00:00:00Z"}]}),
        ))
        .await
        .unwrap();
    let env = Env::from_pairs([
        ("AZURE_TENANT_ID", sb.tenant_id().to_string()),
        ("AZURE_CLIENT_ID", sb.admin_client_id().to_string()),
        (
            "AZURE_CLIENT_CERTIFICATE_PATH",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/graph/client-cert-pkcs8.pem"
            )
            .to_string(),
        ),
    ]);
    let options = ChainOptions {
        method: Some(AuthMethod::Certificate),
        ..ChainOptions::default()
    };
    let chain = CredentialChain::from_env(&env, &endpoints(&sb), options).unwrap();
    chain.token(&Scope::Graph).await.unwrap();
    let client = GraphClient::new(config(&sb), Arc::new(chain)).unwrap();
    let apps: Vec<Application> = client
        .list(Request::get("/applications").query("$select", "id"))
        .await
        .unwrap();
    assert!(!apps.is_empty());
}

#[tokio::test]
async fn a_wrong_secret_is_refused_with_the_aadsts_hint() {
    let sb = sandbox(SandboxConfig::default()).await;
    let env = Env::from_pairs([
        ("AZURE_TENANT_ID", sb.tenant_id().to_string()),
        ("AZURE_CLIENT_ID", sb.admin_client_id().to_string()),
        ("AZURE_CLIENT_SECRET", "not-the-secret".to_string()),
    ]);
    let chain = CredentialChain::from_env(&env, &endpoints(&sb), ChainOptions::default()).unwrap();
    let client = GraphClient::new(config(&sb), Arc::new(chain)).unwrap();
    let err = client
        .send(Request::get("/applications"))
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::Auth(_)), "{err:?}");
    assert!(err.to_string().contains("AADSTS7000215"), "{err}");
}
