use std::time::{Duration, Instant};

use appreg::emulator::{EntryKind, Faults, Sandbox, SandboxConfig};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::support::{Answer, Env};

const VAULT: &str = "contoso-kv.vault.azure.net";
const API: &str = "api-version=7.5";

/// Asserts Key Vault's error envelope and returns `(code, message, inner code)`.
fn vault_error(answer: &Answer) -> (String, String, Option<String>) {
    let error = &answer.body["error"];
    assert!(
        error.is_object(),
        "expected an error envelope: {}",
        answer.text
    );
    assert!(
        error.get("innerError").is_none(),
        "Key Vault's envelope is not Graph's: {}",
        answer.text
    );
    (
        error["code"].as_str().unwrap().to_string(),
        error["message"].as_str().unwrap().to_string(),
        error["innererror"]["code"].as_str().map(str::to_string),
    )
}

fn version_of(bundle: &Value) -> String {
    bundle["id"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn secrets_are_set_read_listed_and_deleted_like_key_vault() {
    let env = Env::start().await;
    let token = env.key_vault_token().await;
    let kv = |method: Method, path: String, body: Option<Value>| {
        let (env, token) = (&env, token.clone());
        async move { env.vault(Some(&token), method, VAULT, &path, body).await }
    };
    let path = format!("/secrets/odoo-fetchmail?{API}");
    let before = chrono::Utc::now().timestamp();
    let first = kv(
        Method::PUT,
        path.clone(),
        Some(json!({"value": "s3cret-1", "contentType": "application/json", "tags": {"keyId": "k1", "expiry": "2027-01-01"}})),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert!(
        first
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let bundle = &first.body;
    assert_eq!(bundle["value"], "s3cret-1");
    let id = bundle["id"].as_str().unwrap();
    let version = version_of(bundle);
    assert_eq!(
        id,
        format!("https://{VAULT}/secrets/odoo-fetchmail/{version}")
    );
    assert_eq!(version.len(), 32);
    assert!(
        version
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    );
    assert_eq!(bundle["contentType"], "application/json");
    assert_eq!(
        bundle["tags"],
        json!({"keyId": "k1", "expiry": "2027-01-01"})
    );
    let attributes = &bundle["attributes"];
    assert_eq!(attributes["enabled"], true);
    assert_eq!(attributes["recoveryLevel"], "Recoverable+Purgeable");
    assert_eq!(attributes["recoverableDays"], 90);
    let created = attributes["created"].as_i64().unwrap();
    assert!((before..=before + 5).contains(&created), "unix seconds");
    assert_eq!(attributes["updated"], attributes["created"]);

    let second = kv(
        Method::PUT,
        path.clone(),
        Some(json!({"value": "s3cret-2"})),
    )
    .await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_ne!(
        version_of(&second.body),
        version,
        "each set is a new version"
    );
    assert!(
        second.body.get("tags").is_none() && second.body.get("contentType").is_none(),
        "a version carries only what its own set sent: {}",
        second.text
    );

    let latest = kv(Method::GET, path.clone(), None).await;
    assert_eq!(latest.status, 200);
    assert_eq!(latest.body["value"], "s3cret-2");
    let trailing = kv(Method::GET, format!("/secrets/odoo-fetchmail/?{API}"), None).await;
    assert_eq!(
        trailing.body["value"], "s3cret-2",
        "an empty version segment is the current version"
    );
    let old = kv(
        Method::GET,
        format!("/secrets/odoo-fetchmail/{version}?{API}"),
        None,
    )
    .await;
    assert_eq!(old.status, 200);
    assert_eq!(old.body["value"], "s3cret-1");
    assert_eq!(old.body["tags"]["keyId"], "k1");
    let unknown_version = kv(
        Method::GET,
        format!("/secrets/odoo-fetchmail/{}?{API}", "0".repeat(32)),
        None,
    )
    .await;
    assert_eq!(unknown_version.status, 404);
    assert_eq!(vault_error(&unknown_version).0, "SecretNotFound");

    // Version lists page with maxresults and nextLink, and never carry values.
    let page = kv(
        Method::GET,
        format!("/secrets/odoo-fetchmail/versions?{API}&maxresults=1"),
        None,
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.text);
    let items = page.body["value"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert!(items[0].get("value").is_none());
    assert!(
        items[0]["id"]
            .as_str()
            .unwrap()
            .starts_with(&format!("https://{VAULT}/secrets/odoo-fetchmail/"))
    );
    assert_eq!(items[0]["attributes"]["enabled"], true);
    let next = page.body["nextLink"].as_str().unwrap();
    let rest = next
        .strip_prefix(&format!("https://{VAULT}"))
        .expect("nextLink names the vault");
    let last = kv(Method::GET, rest.to_string(), None).await;
    assert_eq!(last.status, 200, "{}", last.text);
    assert_eq!(last.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(last.body["nextLink"], json!(null));
    let mut seen: Vec<String> = [&items[0], &last.body["value"][0]]
        .iter()
        .map(|item| version_of(item))
        .collect();
    seen.sort();
    let mut expected = vec![version.clone(), version_of(&second.body)];
    expected.sort();
    assert_eq!(seen, expected);
    assert_eq!(
        kv(
            Method::GET,
            format!("/secrets/odoo-fetchmail/versions?{API}&maxresults=26"),
            None
        )
        .await
        .status,
        400,
        "maxresults is 1..25"
    );

    // Delete answers the deleted bundle; the name then reads as missing and cannot be reused
    // until it is purged.
    let deleted = kv(Method::DELETE, path.clone(), None).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    let gone = &deleted.body;
    assert!(gone.get("value").is_none());
    assert_eq!(
        gone["recoveryId"],
        format!("https://{VAULT}/deletedsecrets/odoo-fetchmail")
    );
    assert_eq!(version_of(gone), version_of(&second.body));
    let deleted_at = gone["deletedDate"].as_i64().unwrap();
    assert_eq!(
        gone["scheduledPurgeDate"].as_i64().unwrap(),
        deleted_at + 90 * 86_400
    );
    let missing = kv(Method::GET, path.clone(), None).await;
    assert_eq!(missing.status, 404);
    let (code, message, _) = vault_error(&missing);
    assert_eq!(code, "SecretNotFound");
    assert!(
        message
            .starts_with("A secret with (name/id) odoo-fetchmail was not found in this key vault."),
        "{message}"
    );
    assert!(
        env.sandbox
            .key_vault_secret(VAULT, "odoo-fetchmail")
            .is_none()
    );
    let reuse = kv(Method::PUT, path.clone(), Some(json!({"value": "again"}))).await;
    assert_eq!(reuse.status, 409, "{}", reuse.text);
    let (code, _, inner) = vault_error(&reuse);
    assert_eq!(
        (code.as_str(), inner.as_deref()),
        ("Conflict", Some("ObjectIsDeletedButRecoverable"))
    );
    let listed = kv(
        Method::GET,
        format!("/deletedsecrets/odoo-fetchmail?{API}"),
        None,
    )
    .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["recoveryId"], gone["recoveryId"]);
    let purged = kv(
        Method::DELETE,
        format!("/deletedsecrets/odoo-fetchmail?{API}"),
        None,
    )
    .await;
    assert_eq!(purged.status, 204);
    assert_eq!(
        kv(
            Method::DELETE,
            format!("/deletedsecrets/odoo-fetchmail?{API}"),
            None
        )
        .await
        .status,
        404
    );
    let fresh = kv(Method::PUT, path.clone(), Some(json!({"value": "again"}))).await;
    assert_eq!(fresh.status, 200, "a purged name is free again");

    // Recover brings a deleted secret back with its versions.
    assert_eq!(kv(Method::DELETE, path.clone(), None).await.status, 200);
    let recovered = kv(
        Method::POST,
        format!("/deletedsecrets/odoo-fetchmail/recover?{API}"),
        None,
    )
    .await;
    assert_eq!(recovered.status, 200, "{}", recovered.text);
    assert!(recovered.body.get("value").is_none());
    assert_eq!(kv(Method::GET, path, None).await.body["value"], "again");

    let held = env
        .sandbox
        .key_vault_secret(&format!("https://{VAULT}/"), "ODOO-FETCHMAIL")
        .expect("the helper reads the current version");
    assert_eq!(held["value"], "again");
    assert_eq!(held["id"], fresh.body["id"]);
}

#[tokio::test]
async fn vaults_are_told_apart_by_host() {
    let env = Env::start().await;
    let token = env.key_vault_token().await;
    let path = format!("/secrets/shared-name?{API}");
    for (vault, value) in [
        (VAULT, "contoso"),
        ("fabrikam-kv.vault.azure.net", "fabrikam"),
    ] {
        let set = env
            .vault(
                Some(&token),
                Method::PUT,
                vault,
                &path,
                Some(json!({"value": value})),
            )
            .await;
        assert_eq!(set.status, 200, "{}", set.text);
        assert!(
            set.body["id"]
                .as_str()
                .unwrap()
                .starts_with(&format!("https://{vault}/"))
        );
    }
    let with_port = env
        .vault(
            Some(&token),
            Method::GET,
            "CONTOSO-kv.vault.azure.net:443",
            &path,
            None,
        )
        .await;
    assert_eq!(
        with_port.body["value"], "contoso",
        "port and case name the same vault"
    );
    assert_eq!(
        env.sandbox
            .key_vault_secret("fabrikam-kv.vault.azure.net", "shared-name")
            .unwrap()["value"],
        "fabrikam"
    );
    let elsewhere = env
        .vault(
            Some(&token),
            Method::GET,
            "other-kv.vault.azure.net",
            &path,
            None,
        )
        .await;
    assert_eq!(elsewhere.status, 404);
    assert!(
        env.sandbox
            .key_vault_secret("other-kv.vault.azure.net", "shared-name")
            .is_none()
    );
}

#[tokio::test]
async fn names_values_tags_and_api_versions_are_checked() {
    let env = Env::start().await;
    let token = env.key_vault_token().await;
    let put = |name: String, query: &'static str, body: Value| {
        let (env, token) = (&env, token.clone());
        async move {
            env.vault(
                Some(&token),
                Method::PUT,
                VAULT,
                &format!("/secrets/{name}?{query}"),
                Some(body),
            )
            .await
        }
    };
    let ok = json!({"value": "v"});
    let underscore = put("odoo_fetchmail".into(), API, ok.clone()).await;
    assert_eq!(underscore.status, 400);
    assert_eq!(
        vault_error(&underscore),
        (
            "BadParameter".into(),
            "The request URI contains an invalid name: odoo_fetchmail".into(),
            None
        )
    );
    assert_eq!(put("x".repeat(128), API, ok.clone()).await.status, 400);
    assert_eq!(put("x".repeat(127), API, ok.clone()).await.status, 200);

    let big = json!({"value": "x".repeat(25 * 1024 + 1)});
    let refused = put("big".into(), API, big).await;
    assert_eq!(refused.status, 400, "values are at most 25 KB");
    assert_eq!(vault_error(&refused).0, "BadParameter");
    assert_eq!(
        put("big".into(), API, json!({"value": "x".repeat(25 * 1024)}))
            .await
            .status,
        200
    );
    let sixteen: Map<String, Value> = (0..16).map(|i| (format!("t{i}"), json!("v"))).collect();
    let fifteen: Map<String, Value> = (0..15).map(|i| (format!("t{i}"), json!("v"))).collect();
    assert_eq!(
        put("tagged".into(), API, json!({"value": "v", "tags": sixteen}))
            .await
            .status,
        400,
        "at most 15 tags"
    );
    assert_eq!(
        put("tagged".into(), API, json!({"value": "v", "tags": fifteen}))
            .await
            .status,
        200
    );
    assert_eq!(
        put(
            "tagged".into(),
            API,
            json!({"value": "v", "tags": {"k": "v".repeat(257)}})
        )
        .await
        .status,
        400,
        "tag values are at most 256 characters"
    );
    assert_eq!(
        put("no-value".into(), API, json!({"contentType": "x"}))
            .await
            .status,
        400
    );

    let unversioned = put("plain".into(), "", ok.clone()).await;
    assert_eq!(unversioned.status, 400);
    assert_eq!(vault_error(&unversioned).0, "BadParameter");
    assert_eq!(
        put("plain".into(), "api-version=9.9", ok.clone())
            .await
            .status,
        400
    );
    for version in ["api-version=7.4", "api-version=7.5"] {
        assert_eq!(
            put("plain".into(), version, ok.clone()).await.status,
            200,
            "{version}"
        );
    }

    // A disabled secret keeps its value out of reach.
    let disabled = put(
        "disabled".into(),
        API,
        json!({"value": "v", "attributes": {"enabled": false}}),
    )
    .await;
    assert_eq!(disabled.status, 200);
    assert_eq!(disabled.body["attributes"]["enabled"], false);
    let read = env
        .vault(
            Some(&token),
            Method::GET,
            VAULT,
            &format!("/secrets/disabled?{API}"),
            None,
        )
        .await;
    assert_eq!(read.status, 403);
    assert_eq!(
        vault_error(&read),
        (
            "Forbidden".into(),
            "Operation get is not allowed on a disabled secret.".into(),
            Some("SecretDisabled".into())
        )
    );

    let keys = env
        .vault(
            Some(&token),
            Method::GET,
            VAULT,
            &format!("/keys/k?{API}"),
            None,
        )
        .await;
    assert_eq!(keys.status, 501, "the sandbox says what it does not serve");
    let post = env
        .vault(
            Some(&token),
            Method::POST,
            VAULT,
            &format!("/secrets/plain?{API}"),
            None,
        )
        .await;
    assert_eq!(post.status, 405);
}

#[tokio::test]
async fn key_vault_accepts_only_key_vault_tokens() {
    let env = Env::start().await;
    let path = format!("/secrets/s?{API}");
    let challenge = format!(
        r#"Bearer authorization="{}/{}", resource="https://vault.azure.net""#,
        env.sandbox.authority_url(),
        env.sandbox.tenant_id()
    );

    let anonymous = env
        .vault(None, Method::PUT, VAULT, &path, Some(json!({"value": "v"})))
        .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        anonymous.header("www-authenticate"),
        Some(challenge.as_str())
    );
    assert_eq!(
        vault_error(&anonymous),
        (
            "Unauthorized".into(),
            "AKV10000: Request is missing a Bearer or PoP token.".into(),
            None
        )
    );

    let graph_token = env.token.clone();
    assert_eq!(claims(&graph_token)["aud"], "https://graph.microsoft.com");
    let wrong_audience = env
        .vault(
            Some(&graph_token),
            Method::PUT,
            VAULT,
            &path,
            Some(json!({"value": "v"})),
        )
        .await;
    assert_eq!(wrong_audience.status, 401);
    assert_eq!(
        wrong_audience.header("www-authenticate"),
        Some(challenge.as_str())
    );
    let (code, message, _) = vault_error(&wrong_audience);
    assert_eq!(code, "Unauthorized");
    assert_eq!(
        message,
        "AKV10022: Invalid audience. Expected https://vault.azure.net, found: https://graph.microsoft.com."
    );
    assert!(
        env.sandbox.key_vault_secret(VAULT, "s").is_none(),
        "nothing was written"
    );

    let forged = format!("{}x", env.key_vault_token().await);
    assert_eq!(
        env.vault(Some(&forged), Method::GET, VAULT, &path, None)
            .await
            .status,
        401
    );

    let token = env.key_vault_token().await;
    let vault_claims = claims(&token);
    assert_eq!(vault_claims["aud"], "https://vault.azure.net");
    assert_eq!(vault_claims["tid"], env.sandbox.tenant_id());
    assert!(
        vault_claims.get("roles").is_none(),
        "Key Vault has no app roles"
    );
    let set = env
        .vault(
            Some(&token),
            Method::PUT,
            VAULT,
            &path,
            Some(json!({"value": "v"})),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text);
    let on_graph = env
        .call_as(&token, Method::GET, "/organization", None, &[])
        .await;
    assert_eq!(on_graph.status, 401, "a Key Vault token is no Graph token");
    assert_eq!(on_graph.error().0, "InvalidAuthenticationToken");

    // Key Vault's application id and the sandbox's own Key Vault address name the same resource.
    for scope in [
        "cfa8b339-82a2-471a-a3c9-0fc0be7a4093/.default".to_string(),
        format!("{}/.default", env.sandbox.key_vault_url()),
    ] {
        let answer = env
            .token_request(&[
                ("grant_type", "client_credentials"),
                ("client_id", env.sandbox.admin_client_id()),
                ("client_secret", env.sandbox.admin_client_secret()),
                ("scope", &scope),
            ])
            .await;
        assert_eq!(answer.status, 200, "{scope}: {}", answer.text);
        assert_eq!(
            claims(answer.body["access_token"].as_str().unwrap())["aud"],
            "https://vault.azure.net",
            "{scope}"
        );
    }
}

#[tokio::test]
async fn key_vault_requests_are_logged_apart_and_faults_apply() {
    let env = Env::start().await;
    let token = env.key_vault_token().await;
    env.sandbox.clear_log();
    let path = format!("/secrets/logged?{API}");
    let set = env
        .vault(
            Some(&token),
            Method::PUT,
            VAULT,
            &path,
            Some(json!({"value": "hidden-value"})),
        )
        .await;
    assert_eq!(set.status, 200);
    let log = env.sandbox.request_log();
    assert_eq!(log.requests.len(), 1);
    let entry = &log.requests[0];
    assert_eq!(entry.kind, EntryKind::KeyVault);
    assert_eq!(entry.host.as_deref(), Some(VAULT));
    assert_eq!(entry.method, "PUT");
    assert_eq!(entry.path, path);
    assert_eq!(entry.status, 200);
    assert_eq!(
        entry.client_id.as_deref(),
        Some(env.sandbox.admin_client_id())
    );
    assert_eq!(log.counters.key_vault_requests, 1);
    assert_eq!(log.counters.http_requests, 0, "Graph counters stay Graph's");
    assert_eq!(log.counters.writes, 0);
    let over_http = env
        .http
        .get(format!("{}/_sandbox/requests", env.sandbox.authority_url()))
        .bearer_auth(&env.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !over_http.contains("hidden-value"),
        "values never reach the log"
    );
    let logged: Value = serde_json::from_str(&over_http).unwrap();
    assert_eq!(logged["requests"][0]["kind"], "keyVault");
    assert_eq!(logged["requests"][0]["host"], VAULT);

    env.sandbox.set_faults(Faults {
        latency: Duration::from_millis(300),
        ..Faults::default()
    });
    let started = Instant::now();
    let slow = env
        .vault(Some(&token), Method::GET, VAULT, &path, None)
        .await;
    assert_eq!(slow.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "latency applies"
    );

    env.sandbox.set_faults(Faults {
        key_vault_failure_probability: 1.0,
        ..Faults::default()
    });
    let denied = env
        .vault(
            Some(&token),
            Method::PUT,
            VAULT,
            &format!("/secrets/refused?{API}"),
            Some(json!({"value": "v"})),
        )
        .await;
    assert_eq!(denied.status, 403, "{}", denied.text);
    let (code, message, inner) = vault_error(&denied);
    assert_eq!(code, "Forbidden");
    assert_eq!(inner.as_deref(), Some("AccessDenied"));
    assert!(
        message.contains(&format!("appid={}", env.sandbox.admin_client_id()))
            && message.contains("does not have secrets set permission on key vault 'contoso-kv"),
        "{message}"
    );
    assert!(env.sandbox.key_vault_secret(VAULT, "refused").is_none());
    assert_eq!(
        env.vault(Some(&token), Method::GET, VAULT, &path, None)
            .await
            .status,
        200,
        "reads pass: the policy denies Set, not Get"
    );
    assert_eq!(
        env.get("/organization").await.status,
        200,
        "the Key Vault switch leaves Graph alone"
    );
    env.sandbox.set_faults(Faults::default());
    assert_eq!(
        env.vault(Some(&token), Method::GET, VAULT, &path, None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn key_vault_secrets_persist_with_the_tenant_and_reset_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("sandbox.json");
    let config = || SandboxConfig {
        state_file: Some(state.clone()),
        ..SandboxConfig::default()
    };
    let env = Env::with(config()).await;
    let token = env.key_vault_token().await;
    let set = env
        .vault(
            Some(&token),
            Method::PUT,
            VAULT,
            &format!("/secrets/kept?{API}"),
            Some(json!({"value": "survives"})),
        )
        .await;
    assert_eq!(set.status, 200);
    env.sandbox.shutdown().await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&state).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let again = Sandbox::start(config()).await.unwrap();
    assert_eq!(
        again.key_vault_secret(VAULT, "kept").unwrap()["value"],
        "survives"
    );
    assert_eq!(
        again.key_vault_secret(VAULT, "kept").unwrap()["id"],
        set.body["id"]
    );
    again.shutdown().await;

    appreg::emulator::reset_state(&state, SandboxConfig::default().seed).unwrap();
    let reset = Sandbox::start(config()).await.unwrap();
    assert!(
        reset.key_vault_secret(VAULT, "kept").is_none(),
        "reset empties the vaults"
    );
}
