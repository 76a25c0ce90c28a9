use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

#[test]
fn serve_prints_one_json_line_and_reset_empties_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("sandbox.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_appreg"))
        .args(["sandbox", "serve", "--listen", "127.0.0.1:0", "--state"])
        .arg(&state)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: Value = serde_json::from_str(&line).unwrap();
    let keys: Vec<&str> = info
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 6);
    for key in [
        "graphUrl",
        "authorityUrl",
        "keyVaultUrl",
        "tenantId",
        "clientId",
        "clientSecret",
    ] {
        assert!(info[key].is_string(), "{key}");
    }
    let token_url = format!(
        "{}/{}/oauth2/v2.0/token",
        info["authorityUrl"].as_str().unwrap(),
        info["tenantId"].as_str().unwrap()
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let status = runtime.block_on(async {
        crate::support::form(
            reqwest::Client::new().post(token_url),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", info["clientId"].as_str().unwrap()),
                ("client_secret", info["clientSecret"].as_str().unwrap()),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        )
        .send()
        .await
        .unwrap()
        .status()
    });
    assert_eq!(status, 200);
    let key_vault = runtime.block_on(async {
        reqwest::Client::new()
            .get(format!(
                "{}/secrets/x?api-version=7.5",
                info["keyVaultUrl"].as_str().unwrap()
            ))
            .header(reqwest::header::HOST, "contoso-kv.vault.azure.net")
            .send()
            .await
            .unwrap()
    });
    assert_eq!(
        key_vault.status(),
        401,
        "Key Vault answers at the printed URL"
    );
    assert!(key_vault.headers().contains_key("www-authenticate"));
    child.kill().unwrap();
    child.wait().unwrap();

    let reset = Command::new(env!("CARGO_BIN_EXE_appreg"))
        .args(["sandbox", "reset", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    assert!(reset.status.success());
    let saved: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_ne!(
        saved["store"]["admin"]["clientSecret"], info["clientSecret"],
        "a reset tenant has a new admin secret"
    );
}

/// `serve --tls`: https URLs, and `caCertPath` naming the sandbox CA written beside the state file,
/// the one file a client must trust. <https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc>
#[test]
fn serve_with_tls_prints_the_ca_a_client_trusts() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("tenant.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_appreg"))
        .args([
            "sandbox",
            "serve",
            "--tls",
            "--verified-domain",
            "fabrikam.example",
            "--listen",
            "127.0.0.1:0",
            "--state",
        ])
        .arg(&state)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: Value = serde_json::from_str(&line).unwrap();
    let ca_path = info["caCertPath"].as_str().expect("caCertPath").to_string();
    assert_eq!(
        std::path::Path::new(&ca_path),
        dir.path().join("tenant-ca.pem")
    );
    let authority = info["authorityUrl"].as_str().unwrap().to_string();
    assert!(authority.starts_with("https://127.0.0.1:"), "{authority}");
    assert!(
        info["keyVaultUrl"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    let ca = std::fs::read(&ca_path).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
        .build()
        .unwrap();
    let config = runtime.block_on(async {
        client
            .get(format!(
                "{authority}/fabrikam.example/v2.0/.well-known/openid-configuration"
            ))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    });
    let token_endpoint = config["token_endpoint"].as_str().unwrap().to_string();
    assert_eq!(
        token_endpoint,
        format!("{authority}/fabrikam.example/oauth2/v2.0/token"),
        "a --verified-domain names the tenant"
    );
    let token = runtime.block_on(async {
        crate::support::form(
            client.post(&token_endpoint),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", info["clientId"].as_str().unwrap()),
                ("client_secret", info["clientSecret"].as_str().unwrap()),
                ("scope", "https://graph.microsoft.com//.default"),
            ],
        )
        .send()
        .await
        .unwrap()
        .status()
    });
    assert_eq!(token, 200, "the discovered token endpoint issues tokens");
    child.kill().unwrap();
    child.wait().unwrap();
}
