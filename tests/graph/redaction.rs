//! Secrets never reach output: the client runs at TRACE (every target, `log` records included)
//! through failures with known canary values, and neither the captured logs nor any error's
//! Display or Debug contains one.

use crate::fake;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use appreg::graph::auth::{AuthMethod, ChainOptions, CredentialChain, Env, Scope, TokenSource};

/// `addPassword`'s answer as a consumer would type it: the value is readable for delivery, and
/// never serialized.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct PasswordCredential {
    key_id: Option<String>,
    #[serde(skip_serializing)]
    secret_text: Option<appreg::graph::Secret>,
}
use appreg::graph::{Cloud, Endpoints, GraphClient, Request};
use fake::{Fake, Reply, test_config, token_reply};
use serde_json::json;

const CLIENT_SECRET: &str = "canary-client-secret-7f3a";
const ACCESS_TOKEN: &str = "canary-access-token-91bc";
const SECRET_TEXT: &str = "canary-secret-text-5d2e";
const ASSERTION: &str = "canary-assertion-c0de";
const RUNNER_TOKEN: &str = "canary-runner-token-77aa";
const TENANT: &str = "t1";
const CLIENT: &str = "c1";

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn env(pairs: &[(&str, &str)]) -> Env {
    Env::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_or_errors_at_trace() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .try_init()
        .unwrap();

    let fake = Fake::start(|seen, n| {
        let path = seen.path.as_str();
        let echo = format!("{}{}", seen.body, seen.header("authorization").unwrap_or_default());
        if path.ends_with("/oauth2/v2.0/token") {
            let form = seen.form();
            let bad_secret = form.get("client_secret").is_some_and(|s| s == "wrong");
            if bad_secret || form.contains_key("client_assertion") {
                // A hostile or buggy endpoint echoing everything it received.
                return Reply::Json(401, json!({"error": "invalid_client", "error_description": format!("AADSTS7000215: {echo}"), "error_uri": echo}));
            }
            return token_reply(ACCESS_TOKEN, 3600);
        }
        if path == "/gh" {
            return Reply::Json(500, json!({"message": echo}));
        }
        match (seen.method.as_str(), path, n) {
            ("GET", "/v1.0/applications/a", 0) => fake::graph_error(401, "InvalidAuthenticationToken", "expired"),
            ("GET", "/v1.0/applications/a", 1) => Reply::Full(429, vec![("Retry-After", "0.05".into())], None),
            ("GET", "/v1.0/applications/a", _) => fake::graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."),
            ("POST", "/v1.0/applications/a/addPassword", 0) => Reply::Json(200, json!({"keyId": "8f1b3a1e-4a5e-4c55-9e58-0b9d8c8d1a11", "displayName": "x", "hint": "can", "secretText": SECRET_TEXT})),
            ("POST", "/v1.0/applications/a/addPassword", _) => fake::graph_error(400, "Request_BadRequest", &format!("echo {SECRET_TEXT} {echo}")),
            ("POST", "/v1.0/$batch", _) => Reply::Json(200, json!({"responses": [
                {"id": "0", "status": 200, "body": {"secretText": SECRET_TEXT}},
                {"id": "1", "status": 400, "body": {"error": {"code": "Request_BadRequest", "message": format!("echo {SECRET_TEXT}")}}}]})),
            ("POST", "/v1.0/applications", _) => Reply::Hang(Duration::from_secs(3)),
            _ => fake::graph_error(404, "Request_ResourceNotFound", "no such thing"),
        }
    })
    .await;
    let endpoints = Endpoints::for_cloud(Cloud::Global)
        .with_authority(fake.url())
        .unwrap();
    let mut shown: Vec<String> = Vec::new();
    let mut show = |s: String| shown.push(s);

    // A wrong secret, answered by an endpoint that echoes it back.
    let wrong = CredentialChain::from_env(
        &env(&[
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", CLIENT),
            ("AZURE_CLIENT_SECRET", "wrong"),
        ]),
        &endpoints,
        ChainOptions {
            method: Some(AuthMethod::Secret),
            ..ChainOptions::default()
        },
    )
    .unwrap();
    let e = wrong.token(&Scope::Graph).await.unwrap_err();
    show(format!("{e} {e:?}"));

    // A federated assertion and a runner token, both rejected.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, ASSERTION).unwrap();
    let federated = CredentialChain::from_env(
        &env(&[
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", CLIENT),
            ("AZURE_FEDERATED_TOKEN_FILE", file.to_str().unwrap()),
        ]),
        &endpoints,
        ChainOptions {
            method: Some(AuthMethod::WorkloadIdentity),
            ..ChainOptions::default()
        },
    )
    .unwrap();
    let e = federated.token(&Scope::Graph).await.unwrap_err();
    show(format!("{e} {e:?}"));
    let runner_url = format!("{}/gh", fake.url);
    let github = CredentialChain::from_env(
        &env(&[
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", CLIENT),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", &runner_url),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", RUNNER_TOKEN),
        ]),
        &endpoints,
        ChainOptions {
            method: Some(AuthMethod::GithubOidc),
            ..ChainOptions::default()
        },
    )
    .unwrap();
    let e = github.token(&Scope::Graph).await.unwrap_err();
    show(format!("{e} {e:?}"));

    // The real secret, then Graph through failures.
    let env_with_secret = env(&[
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", CLIENT),
        ("AZURE_CLIENT_SECRET", CLIENT_SECRET),
    ]);
    show(format!("{env_with_secret:?}"));
    let chain =
        CredentialChain::from_env(&env_with_secret, &endpoints, ChainOptions::default()).unwrap();
    let token = chain.token(&Scope::Graph).await.unwrap();
    assert_eq!(token.secret.expose(), ACCESS_TOKEN);
    show(format!("{token:?} {}", token.secret));
    let client = GraphClient::new(test_config(fake.url()), Arc::new(chain)).unwrap();

    let e = client
        .send(Request::get("/applications/a"))
        .await
        .unwrap_err();
    show(format!("{e} {e:?}"));
    let created = client
        .send(Request::post(
            "/applications/a/addPassword",
            json!({"passwordCredential": {"displayName": "x"}}),
        ))
        .await
        .unwrap();
    show(format!("{created:?}"));
    let credential: PasswordCredential =
        serde_json::from_value(created.body.clone().unwrap()).unwrap();
    assert_eq!(
        credential.secret_text.as_ref().unwrap().expose(),
        SECRET_TEXT,
        "the value is there for delivery"
    );
    show(format!(
        "{credential:?} {}",
        serde_json::to_string(&credential).unwrap()
    ));
    let e = client
        .send(Request::post(
            "/applications/a/addPassword",
            json!({"passwordCredential": {"displayName": "x"}}),
        ))
        .await
        .unwrap_err();
    show(format!("{e} {e:?}"));
    let e = client
        .send(Request::post("/applications", json!({"displayName": "x"})))
        .await
        .unwrap_err();
    show(format!("{e} {e:?}"));
    for result in client
        .batch(vec![
            Request::post(
                "/applications/a/addPassword",
                json!({"passwordCredential": {}}),
            ),
            Request::post(
                "/applications/a/addPassword",
                json!({"passwordCredential": {}}),
            ),
        ])
        .await
    {
        show(format!("{result:?}"));
        if let Err(e) = result {
            show(e.to_string());
        }
    }
    client.log_summary();

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("addPassword"),
        "logging was captured:\n{logs}"
    );
    assert!(logs.contains("TRACE"), "trace level was on");
    assert!(
        logs.contains("Microsoft Graph:"),
        "the summary line is logged"
    );
    for canary in [
        CLIENT_SECRET,
        ACCESS_TOKEN,
        SECRET_TEXT,
        ASSERTION,
        RUNNER_TOKEN,
    ] {
        assert!(!logs.contains(canary), "{canary} in logs:\n{logs}");
        for s in &shown {
            assert!(!s.contains(canary), "{canary} in output: {s}");
        }
    }
}
