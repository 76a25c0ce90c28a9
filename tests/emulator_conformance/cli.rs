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
