//! Every credential kind that works offline obtains a token from fakes on loopback (token
//! endpoint, IMDS, App Service identity endpoint, GitHub's OIDC endpoint, a fake `az`), tokens are
//! cached and refreshed, and a run with nothing configured says what was tried.

use crate::fake;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use appreg::graph::auth::{
    AuthError, AuthMethod, ChainOptions, CredentialChain, Env, Scope, TokenSource,
    WorkloadIdentityCredential,
};
use appreg::graph::{Cloud, Endpoints, GraphClient, Request};
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fake::{Fake, Reply, Seen, test_config, token_reply};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const TENANT: &str = "98bfee78-6885-4175-9030-fea76352207b";
const CLIENT: &str = "11111111-2222-3333-4444-555555555555";

fn endpoints(fake: &Fake) -> Endpoints {
    Endpoints::for_cloud(Cloud::Global)
        .with_authority(fake.url())
        .unwrap()
}

fn env(pairs: &[(&str, &str)]) -> Env {
    Env::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

fn only(method: AuthMethod) -> ChainOptions {
    ChainOptions {
        method: Some(method),
        ..ChainOptions::default()
    }
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/graph/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn token_path() -> String {
    format!("/{TENANT}/oauth2/v2.0/token")
}

fn jwt_part(jwt: &str, n: usize) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(n).unwrap())
            .unwrap(),
    )
    .unwrap()
}

/// A port nothing listens on.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

#[tokio::test]
async fn client_secret_gets_and_caches_a_token_per_scope() {
    let fake = Fake::start(|seen, n| {
        assert_eq!(seen.path, token_path());
        token_reply(&format!("token-{n}"), 3600)
    })
    .await;
    let chain = CredentialChain::from_env(
        &env(&[
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", CLIENT),
            ("AZURE_CLIENT_SECRET", "s3cret"),
        ]),
        &endpoints(&fake),
        only(AuthMethod::Secret),
    )
    .unwrap();
    let graph = chain.token(&Scope::Graph).await.unwrap();
    assert_eq!(graph.secret.expose(), "token-0");
    assert_eq!(
        chain.token(&Scope::Graph).await.unwrap().secret.expose(),
        "token-0",
        "cached"
    );
    assert_eq!(
        chain.token(&Scope::KeyVault).await.unwrap().secret.expose(),
        "token-1"
    );
    let log = fake.log();
    assert_eq!(log.len(), 2);
    let form = log[0].form();
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], CLIENT);
    assert_eq!(form["client_secret"], "s3cret");
    assert_eq!(form["scope"], "https://graph.microsoft.com/.default");
    assert_eq!(log[1].form()["scope"], "https://vault.azure.net/.default");
    assert_eq!(chain.selected(), Some(AuthMethod::Secret));
}

#[tokio::test]
async fn certificate_sends_a_signed_assertion_with_the_sha256_thumbprint() {
    let fake = Fake::start(|seen, _| {
        let form = seen.form();
        assert_eq!(
            form["client_assertion_type"],
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        );
        assert!(!form.contains_key("client_secret"));
        let jwt = &form["client_assertion"];
        let (signed, signature) = jwt.rsplit_once('.').unwrap();
        let public_key = std::fs::read(fixture("client-cert-public-key.der")).unwrap();
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key)
            .verify(
                signed.as_bytes(),
                &URL_SAFE_NO_PAD.decode(signature).unwrap(),
            )
            .expect("assertion signed by the certificate's key");
        let der = std::fs::read(fixture("client-cert.der")).unwrap();
        let header = jwt_part(jwt, 0);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(
            header["x5t#S256"],
            URL_SAFE_NO_PAD.encode(Sha256::digest(&der))
        );
        let claims = jwt_part(jwt, 1);
        assert_eq!(claims["aud"], format!("{}{}", seen.base(), token_path()));
        assert_eq!(
            (claims["iss"].as_str(), claims["sub"].as_str()),
            (Some(CLIENT), Some(CLIENT))
        );
        token_reply("cert-token", 3600)
    })
    .await;
    let path = fixture("client-cert-pkcs8.pem");
    let chain = CredentialChain::from_env(
        &env(&[
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", CLIENT),
            ("AZURE_CLIENT_CERTIFICATE_PATH", &path),
        ]),
        &endpoints(&fake),
        ChainOptions::default(),
    )
    .unwrap();
    assert_eq!(chain.methods()[0], AuthMethod::Certificate);
    assert_eq!(
        chain.token(&Scope::Graph).await.unwrap().secret.expose(),
        "cert-token"
    );
}

#[tokio::test]
async fn workload_identity_reads_the_token_file_for_every_exchange() {
    let fake = Fake::start(|seen, _| {
        let form = seen.form();
        assert_eq!(
            form["client_assertion_type"],
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        );
        token_reply(&format!("for-{}", form["client_assertion"]), 3600)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "kube-jwt-1\n").unwrap();
    let credential = WorkloadIdentityCredential::new(
        &endpoints(&fake),
        TENANT,
        CLIENT,
        file.clone(),
        reqwest::Client::new(),
    )
    .unwrap();
    assert_eq!(
        credential
            .token(&Scope::Graph)
            .await
            .unwrap()
            .secret
            .expose(),
        "for-kube-jwt-1"
    );
    std::fs::write(&file, "kube-jwt-2").unwrap();
    assert_eq!(
        credential
            .token(&Scope::Graph)
            .await
            .unwrap()
            .secret
            .expose(),
        "for-kube-jwt-2",
        "rotated file"
    );

    let chain = CredentialChain::from_env(
        &env(&[
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", CLIENT),
            ("AZURE_FEDERATED_TOKEN_FILE", file.to_str().unwrap()),
        ]),
        &endpoints(&fake),
        only(AuthMethod::WorkloadIdentity),
    )
    .unwrap();
    assert_eq!(
        chain.token(&Scope::Graph).await.unwrap().secret.expose(),
        "for-kube-jwt-2"
    );
}

#[tokio::test]
async fn github_oidc_exchanges_the_runner_token() {
    let fake = Fake::start(|seen, _| {
        if seen.path == "/_apis/oidc/token" {
            assert_eq!(seen.bearer().as_deref(), Some("runner-request-token"));
            assert_eq!(seen.query_param("api-version").as_deref(), Some("2.0"));
            assert_eq!(
                seen.query_param("audience").as_deref(),
                Some("api://AzureADTokenExchange")
            );
            return Reply::Json(200, json!({"count": 1, "value": "github-id-token"}));
        }
        assert_eq!(seen.form()["client_assertion"], "github-id-token");
        token_reply("gh-graph-token", 3600)
    })
    .await;
    let request_url = format!("{}/_apis/oidc/token?api-version=2.0", fake.url);
    let chain = CredentialChain::from_env(
        &env(&[
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", CLIENT),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", &request_url),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "runner-request-token"),
        ]),
        &endpoints(&fake),
        ChainOptions::default(),
    )
    .unwrap();
    assert_eq!(chain.methods()[0], AuthMethod::GithubOidc);
    assert_eq!(
        chain.token(&Scope::Graph).await.unwrap().secret.expose(),
        "gh-graph-token"
    );
}

#[tokio::test]
async fn managed_identity_through_imds() {
    let fake = Fake::start(|seen, _| {
        assert_eq!(seen.path, "/metadata/identity/oauth2/token");
        assert_eq!(seen.header("metadata").as_deref(), Some("true"));
        assert_eq!(
            seen.query_param("api-version").as_deref(),
            Some("2018-02-01")
        );
        assert_eq!(
            seen.query_param("resource").as_deref(),
            Some("https://graph.microsoft.us")
        );
        assert_eq!(seen.query_param("client_id").as_deref(), Some(CLIENT));
        // IMDS sends numbers as strings.
        Reply::Json(
            200,
            json!({"access_token": "imds-token", "expires_in": "3599", "expires_on": "1900000000",
            "resource": "https://graph.microsoft.us", "token_type": "Bearer"}),
        )
    })
    .await;
    let endpoints = Endpoints::for_cloud(Cloud::UsGov);
    let chain = CredentialChain::from_env(
        &env(&[
            ("AZURE_CLIENT_ID", CLIENT),
            ("AZURE_POD_IDENTITY_AUTHORITY_HOST", &fake.url),
        ]),
        &endpoints,
        ChainOptions::default(),
    )
    .unwrap();
    assert_eq!(
        chain.token(&Scope::Graph).await.unwrap().secret.expose(),
        "imds-token"
    );
    assert_eq!(chain.selected(), Some(AuthMethod::ManagedIdentity));
}

#[tokio::test]
async fn managed_identity_through_the_app_service_endpoint() {
    let fake = Fake::start(|seen, _| {
        assert_eq!(seen.path, "/msi/token");
        assert_eq!(seen.header("x-identity-header").as_deref(), Some("app-service-header"));
        assert_eq!(seen.query_param("api-version").as_deref(), Some("2019-08-01"));
        assert_eq!(seen.query_param("resource").as_deref(), Some("https://vault.azure.net"));
        Reply::Json(200, json!({"access_token": "app-service-token", "expires_on": "4102444800", "token_type": "Bearer"}))
    })
    .await;
    let endpoint = format!("{}/msi/token", fake.url);
    let chain = CredentialChain::from_env(
        &env(&[
            ("IDENTITY_ENDPOINT", &endpoint),
            ("IDENTITY_HEADER", "app-service-header"),
        ]),
        &Endpoints::for_cloud(Cloud::Global),
        only(AuthMethod::ManagedIdentity),
    )
    .unwrap();
    assert_eq!(
        chain.token(&Scope::KeyVault).await.unwrap().secret.expose(),
        "app-service-token"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn azure_cli_token_from_a_fake_az() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let az = dir.path().join("az");
    let args_file = dir.path().join("args");
    std::fs::write(
        &az,
        format!(
            "#!/bin/sh\necho \"$@\" > '{}'\necho '{{\"accessToken\": \"cli-token\", \"expiresOn\": \"2099-01-01 00:00:00.000000\", \"expires_on\": 4070908800, \"tokenType\": \"Bearer\"}}'\n",
            args_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    let options = ChainOptions {
        azure_cli: az,
        tenant: Some(TENANT.into()),
        ..only(AuthMethod::AzureCli)
    };
    let chain =
        CredentialChain::from_env(&env(&[]), &Endpoints::for_cloud(Cloud::China), options).unwrap();
    assert_eq!(
        chain.token(&Scope::Graph).await.unwrap().secret.expose(),
        "cli-token"
    );
    let args = std::fs::read_to_string(args_file).unwrap();
    assert_eq!(
        args.trim(),
        format!(
            "account get-access-token --output json --scope https://microsoftgraph.chinacloudapi.cn/.default --tenant {TENANT}"
        )
    );
}

#[cfg(unix)]
#[tokio::test]
async fn azure_cli_not_logged_in_is_unavailable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let az = dir.path().join("az");
    std::fs::write(
        &az,
        "#!/bin/sh\necho \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    let options = ChainOptions {
        azure_cli: az,
        ..only(AuthMethod::AzureCli)
    };
    let chain = CredentialChain::from_env(&env(&[]), &Endpoints::for_cloud(Cloud::Global), options)
        .unwrap();
    let err = chain.token(&Scope::Graph).await.unwrap_err();
    assert!(matches!(err, AuthError::Unavailable { .. }), "{err:?}");
    assert!(err.to_string().contains("not logged in"), "{err}");
}

#[tokio::test]
async fn device_code_shows_url_and_code_then_polls() {
    let fake = Fake::start(|seen, n| {
        if seen.path == "/organizations/oauth2/v2.0/devicecode" {
            let form = seen.form();
            assert_eq!(form["client_id"], "04b07795-8ddb-461a-bbee-02f9e1bf7b46");
            assert!(form["scope"].contains("https://graph.microsoft.com/.default"));
            return Reply::Json(200, json!({"device_code": "dev-code", "user_code": "ABCD-EFGH",
                "verification_uri": "https://microsoft.com/devicelogin", "expires_in": 900, "interval": 0,
                "message": "To sign in, use a web browser..."}));
        }
        assert_eq!(seen.path, "/organizations/oauth2/v2.0/token");
        let form = seen.form();
        match form["grant_type"].as_str() {
            "urn:ietf:params:oauth:grant-type:device_code" if n == 0 => {
                Reply::Json(400, json!({"error": "authorization_pending", "error_description": "AADSTS70016: pending"}))
            }
            "urn:ietf:params:oauth:grant-type:device_code" => Reply::Json(200, json!({"token_type": "Bearer",
                "expires_in": 3600, "access_token": "person-token", "refresh_token": "person-refresh"})),
            "refresh_token" => {
                assert_eq!(form["refresh_token"], "person-refresh");
                assert!(form["scope"].contains("https://vault.azure.net/.default"));
                token_reply("vault-token", 3600)
            }
            other => panic!("unexpected grant {other}"),
        }
    })
    .await;
    let shown: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = shown.clone();
    let options = ChainOptions {
        prompt: Arc::new(move |m: &str| sink.lock().unwrap().push(m.to_string())),
        ..only(AuthMethod::DeviceCode)
    };
    let chain = CredentialChain::from_env(&env(&[]), &endpoints(&fake), options).unwrap();
    assert_eq!(
        chain.token(&Scope::Graph).await.unwrap().secret.expose(),
        "person-token"
    );
    assert_eq!(
        shown.lock().unwrap().as_slice(),
        [
            "To sign in, open https://microsoft.com/devicelogin in a browser and enter the code ABCD-EFGH"
        ]
    );
    assert_eq!(
        chain.token(&Scope::KeyVault).await.unwrap().secret.expose(),
        "vault-token",
        "no second prompt"
    );
    assert_eq!(shown.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn nothing_configured_lists_what_was_tried_and_how_to_configure_each() {
    let dead = closed_port_url();
    let options = ChainOptions {
        azure_cli: "/nonexistent/appreg-test/az".into(),
        ..ChainOptions::default()
    };
    let chain = CredentialChain::from_env(
        &env(&[("AZURE_POD_IDENTITY_AUTHORITY_HOST", &dead)]),
        &Endpoints::for_cloud(Cloud::Global),
        options,
    )
    .unwrap();
    let err = chain.token(&Scope::Graph).await.unwrap_err();
    let text = err.to_string();
    let AuthError::NoCredential { tried } = &err else {
        panic!("{err:?}")
    };
    let methods: Vec<AuthMethod> = tried.iter().map(|(m, _)| *m).collect();
    assert_eq!(methods, AuthMethod::ALL.to_vec(), "every method, in order");
    for needle in [
        "secret: AZURE_CLIENT_SECRET is not set",
        "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_FEDERATED_TOKEN_FILE",
        "id-token: write",
        "managed-identity: no managed identity endpoint answered",
        "azure-cli: `/nonexistent/appreg-test/az` was not found",
        "run `az login`",
        "device-code: no interactive terminal",
        "--auth <method>",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[tokio::test]
async fn a_rejected_secret_stops_the_chain_and_never_quotes_the_body() {
    let fake = Fake::start(|seen, _| {
        if seen.path.starts_with("/metadata") {
            return Reply::Json(
                200,
                json!({"access_token": "imds-token", "expires_in": "3599"}),
            );
        }
        Reply::Json(
            401,
            json!({"error": "invalid_client",
            "error_description": "AADSTS7000215: Invalid client secret provided: wrong-secret-echo",
            "error_codes": [7000215]}),
        )
    })
    .await;
    let chain = CredentialChain::from_env(
        &env(&[
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", CLIENT),
            ("AZURE_CLIENT_SECRET", "wrong-secret-echo"),
            ("AZURE_POD_IDENTITY_AUTHORITY_HOST", &fake.url),
        ]),
        &endpoints(&fake),
        ChainOptions::default(),
    )
    .unwrap();
    let err = chain.token(&Scope::Graph).await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("invalid_client (AADSTS7000215): the client secret is wrong"),
        "{text}"
    );
    assert!(!text.contains("wrong-secret-echo"), "{text}");
    assert!(
        fake.seen("GET", "/metadata/identity/oauth2/token")
            .is_empty(),
        "no fall-through after a real failure"
    );
}

/// A Graph fake with its own token endpoint, recording which token each Graph request carried.
async fn graph_and_token_endpoint(
    token_lifetimes: &'static [u64],
    graph: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
) -> (Fake, Arc<AtomicUsize>) {
    let issued = Arc::new(AtomicUsize::new(0));
    let counter = issued.clone();
    let fake = Fake::start(move |seen, _| {
        if seen.path.ends_with("/oauth2/v2.0/token") {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let lifetime = token_lifetimes[n.min(token_lifetimes.len() - 1)];
            return token_reply(&format!("token-{n}"), lifetime);
        }
        graph(seen)
    })
    .await;
    (fake, issued)
}

fn client_with_chain(fake: &Fake) -> GraphClient {
    let chain = CredentialChain::from_env(
        &env(&[
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", CLIENT),
            ("AZURE_CLIENT_SECRET", "s"),
        ]),
        &endpoints(fake),
        only(AuthMethod::Secret),
    )
    .unwrap();
    GraphClient::new(test_config(fake.url()), Arc::new(chain)).unwrap()
}

#[tokio::test]
async fn a_token_expiring_mid_run_is_refreshed_once() {
    // The first token lives one second (refreshed after half of it); the next one an hour.
    let (fake, issued) =
        graph_and_token_endpoint(&[1, 3600], |_| Reply::Json(200, json!({}))).await;
    let client = client_with_chain(&fake);
    client.send(Request::get("/applications/1")).await.unwrap();
    client.send(Request::get("/applications/2")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    for i in 3..6 {
        client
            .send(Request::get(format!("/applications/{i}")))
            .await
            .unwrap();
    }
    assert_eq!(issued.load(Ordering::SeqCst), 2, "exactly one refresh");
    let carried: Vec<String> = fake
        .seen("GET", "")
        .iter()
        .map(|s| s.bearer().unwrap())
        .collect();
    assert_eq!(
        carried,
        ["token-0", "token-0", "token-1", "token-1", "token-1"]
    );
}

#[tokio::test]
async fn a_token_rejected_mid_run_is_replaced_once() {
    let (fake, issued) = graph_and_token_endpoint(&[3600], |seen| {
        if seen.bearer().as_deref() == Some("token-0") {
            fake::graph_error(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
            )
        } else {
            Reply::Json(200, json!({}))
        }
    })
    .await;
    let client = client_with_chain(&fake);
    client.send(Request::get("/applications/1")).await.unwrap();
    assert_eq!(issued.load(Ordering::SeqCst), 2);
    assert_eq!(client.stats().retries, 1);

    let (fake, issued) = graph_and_token_endpoint(&[3600], |_| {
        fake::graph_error(
            401,
            "InvalidAuthenticationToken",
            "Access token validation failure.",
        )
    })
    .await;
    let client = client_with_chain(&fake);
    let err = client
        .send(Request::get("/applications/1"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(
        issued.load(Ordering::SeqCst),
        2,
        "one new token, then the 401 is reported"
    );
    assert_eq!(fake.seen("GET", "/applications/1").len(), 2);
}
