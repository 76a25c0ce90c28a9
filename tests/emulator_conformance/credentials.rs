use std::time::Duration;

use appreg::emulator::Faults;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use serde_json::json;

use crate::support::Env;

pub const CERT_PEM: &str = include_str!("../fixtures/sandbox-client.crt");

pub fn cert_der() -> Vec<u8> {
    let body: String = CERT_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    STANDARD.decode(body).unwrap()
}

#[tokio::test]
async fn add_password_returns_the_secret_once() {
    let env = Env::start().await;
    let (app, _) = env.app_with_sp("secretive").await;
    let id = app["id"].as_str().unwrap();
    let answer = env
        .post(
            &format!("/applications/{id}/addPassword"),
            json!({"passwordCredential": {"displayName": "vendor-handoff"}}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let credential = &answer.body;
    assert!(
        credential["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#microsoft.graph.passwordCredential")
    );
    let secret = credential["secretText"].as_str().unwrap();
    assert!((16..=64).contains(&secret.len()));
    assert_eq!(credential["hint"].as_str().unwrap(), &secret[..3]);
    assert_eq!(credential["displayName"], "vendor-handoff");
    let start = chrono::DateTime::parse_from_rfc3339(credential["startDateTime"].as_str().unwrap())
        .unwrap();
    let end =
        chrono::DateTime::parse_from_rfc3339(credential["endDateTime"].as_str().unwrap()).unwrap();
    assert_eq!(
        (end - start).num_days(),
        730,
        "default lifetime is two years"
    );
    let read = env.get(&format!("/applications/{id}")).await.body;
    let stored = &read["passwordCredentials"][0];
    assert_eq!(stored["keyId"], credential["keyId"]);
    assert_eq!(
        stored["secretText"],
        json!(null),
        "reads never show the secret"
    );
    assert!(
        !env.get(&format!("/applications/{id}"))
            .await
            .text
            .contains(secret)
    );

    let token = env.token_for(app["appId"].as_str().unwrap(), secret).await;
    assert_eq!(
        env.call_as(&token, Method::GET, "/organization", None, &[])
            .await
            .status,
        200
    );

    let removed = env
        .post(
            &format!("/applications/{id}/removePassword"),
            json!({"keyId": credential["keyId"]}),
        )
        .await;
    assert_eq!(removed.status, 204);
    let refused = env
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", app["appId"].as_str().unwrap()),
            ("client_secret", secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.body["error"], "invalid_client");
}

#[tokio::test]
async fn secret_lifetime_policy_refuses_long_secrets() {
    let env = Env::with_faults(Faults {
        max_secret_lifetime: Some(Duration::from_secs(90 * 86_400)),
        ..Faults::default()
    })
    .await;
    let app = env.app("policy").await;
    let id = app["id"].as_str().unwrap();
    let answer = env
        .post(
            &format!("/applications/{id}/addPassword"),
            json!({"passwordCredential": {"displayName": "x"}}),
        )
        .await;
    assert_eq!(answer.status, 400);
    let (code, message) = answer.error();
    assert_eq!(code, "CredentialInvalidLifetimeAsPerAppPolicy");
    let policy = message
        .strip_prefix("Credential lifetime exceeds the max value allowed as per assigned policy '")
        .and_then(|rest| rest.strip_suffix("'."))
        .unwrap_or_else(|| panic!("Graph's wording: {message}"));
    assert!(
        uuid::Uuid::parse_str(policy).is_ok(),
        "the policy is named by its id: {message}"
    );
    let end = (chrono::Utc::now() + chrono::Duration::days(60)).to_rfc3339();
    let ok = env
        .post(
            &format!("/applications/{id}/addPassword"),
            json!({"passwordCredential": {"endDateTime": end}}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
}

#[tokio::test]
async fn personal_account_apps_hold_two_secrets() {
    let env = Env::start().await;
    let answer = env
        .post("/applications", json!({"displayName": "odoo", "signInAudience": "AzureADandPersonalMicrosoftAccount", "api": {"requestedAccessTokenVersion": 2}}))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    let id = answer.body["id"].as_str().unwrap();
    env.add_password(id).await;
    env.add_password(id).await;
    let third = env
        .post(&format!("/applications/{id}/addPassword"), json!({}))
        .await;
    assert_eq!(third.status, 400);
}

#[tokio::test]
async fn key_credentials_are_set_by_patch() {
    let env = Env::start().await;
    let app = env.app("certified").await;
    let path = format!("/applications/{}", app["id"].as_str().unwrap());
    let key = STANDARD.encode(cert_der());
    let answer = env.patch(&path, json!({"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": key}]})).await;
    assert_eq!(answer.status, 204, "{}", answer.text);
    let read = env.get(&path).await.body;
    let credential = &read["keyCredentials"][0];
    assert_eq!(
        credential["key"],
        json!(null),
        "key bytes only on $select of a single object"
    );
    assert_eq!(credential["displayName"], "CN=appreg-sandbox-test");
    assert_eq!(credential["type"], "AsymmetricX509Cert");
    assert!(credential["customKeyIdentifier"].is_string());
    assert!(credential["endDateTime"].is_string());
    let selected = env
        .get(&format!("{path}?$select=keyCredentials"))
        .await
        .body;
    assert_eq!(selected["keyCredentials"][0]["key"], json!(key));
    let garbage = env.patch(&path, json!({"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": "bm90IGEgY2VydA=="}]})).await;
    assert_eq!(garbage.status, 400);
}

#[tokio::test]
async fn federated_identity_credentials_crud_and_limits() {
    let env = Env::start().await;
    let app = env.app("deployer").await;
    let base = format!(
        "/applications/{}/federatedIdentityCredentials",
        app["id"].as_str().unwrap()
    );
    let fic = json!({"name": "github-deploy", "issuer": "https://token.actions.githubusercontent.com", "subject": "repo:contoso/erp:environment:prod", "audiences": ["api://AzureADTokenExchange"]});
    let created = env.post(&base, fic.clone()).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert!(
        created.body["@odata.context"]
            .as_str()
            .unwrap()
            .contains("/federatedIdentityCredentials/$entity")
    );
    assert_eq!(created.body["description"], json!(null));
    let by_name = env.get(&format!("{base}(name='github-deploy')")).await;
    assert_eq!(by_name.status, 200);
    assert_eq!(by_name.body["id"], created.body["id"]);
    let list = env.get(&base).await;
    assert_eq!(list.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(
        env.patch(
            &format!("{base}(name='github-deploy')"),
            json!({"description": "prod deploys"})
        )
        .await
        .status,
        204
    );
    assert_eq!(
        env.get(&format!("{base}/{}", created.body["id"].as_str().unwrap()))
            .await
            .body["description"],
        "prod deploys"
    );
    assert_eq!(
        env.patch(
            &format!("{base}(name='github-deploy')"),
            json!({"name": "renamed"})
        )
        .await
        .status,
        400,
        "name is immutable"
    );
    assert_eq!(
        env.post(&base, fic.clone()).await.status,
        409,
        "name is unique per app"
    );
    let mut bad = fic.clone();
    bad["name"] = json!("has spaces");
    assert_eq!(env.post(&base, bad).await.status, 400);
    let mut two_audiences = fic.clone();
    two_audiences["name"] = json!("x");
    two_audiences["audiences"] = json!(["a", "b"]);
    assert_eq!(env.post(&base, two_audiences).await.status, 400);
    let k8s = json!({"issuer": "https://oidc.example.com", "subject": "system:serviceaccount:erp:sync", "audiences": ["api://AzureADTokenExchange"]});
    // Without `Prefer: create-if-missing` a PATCH by name is an update of nothing.
    // <https://learn.microsoft.com/en-us/graph/api/federatedidentitycredential-upsert>
    let update = env.patch(&format!("{base}(name='k8s')"), k8s.clone()).await;
    assert_eq!(update.status, 404, "{}", update.text);
    let upserted = env
        .call(
            Method::PATCH,
            &format!("{base}(name='k8s')"),
            Some(k8s),
            &[("Prefer", "create-if-missing")],
        )
        .await;
    assert_eq!(upserted.status, 201, "{}", upserted.text);
    for i in 0..18 {
        let mut more = fic.clone();
        more["name"] = json!(format!("env-{i}"));
        more["subject"] = json!(format!("repo:contoso/erp:environment:{i}"));
        assert_eq!(env.post(&base, more).await.status, 201);
    }
    let mut over = fic.clone();
    over["name"] = json!("one-too-many");
    over["subject"] = json!("repo:contoso/erp:environment:over");
    assert_eq!(
        env.post(&base, over).await.status,
        400,
        "at most 20 per app"
    );
    assert_eq!(
        env.delete(&format!("{base}(name='github-deploy')"))
            .await
            .status,
        204
    );
    assert_eq!(
        env.get(&format!("{base}(name='github-deploy')"))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn credential_reads_carry_metadata_and_certificate_bytes_only_when_selected() {
    let env = Env::start().await;
    let app = env.app("rotated").await;
    let id = app["id"].as_str().unwrap();
    let app_id = app["appId"].as_str().unwrap();
    let added = env
        .post(
            &format!("/applications/{id}/addPassword"),
            json!({"passwordCredential": {"displayName": "vendor-handoff"}}),
        )
        .await
        .body;
    let secret = added["secretText"].as_str().unwrap().to_string();
    let key = STANDARD.encode(cert_der());
    let patched = env
        .patch(
            &format!("/applications/{id}"),
            json!({"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": key}]}),
        )
        .await;
    assert_eq!(patched.status, 204, "{}", patched.text);

    let select = "$select=passwordCredentials,keyCredentials";
    let check_password = |read: &serde_json::Value, text: &str, how: &str| {
        assert!(
            !text.contains(&secret),
            "{how}: the secret never comes back"
        );
        let password = &read["passwordCredentials"][0];
        for property in [
            "keyId",
            "displayName",
            "hint",
            "startDateTime",
            "endDateTime",
        ] {
            assert_eq!(password[property], added[property], "{how}: {property}");
        }
        let object = password.as_object().unwrap();
        assert!(
            object.contains_key("customKeyIdentifier"),
            "{how}: customKeyIdentifier is part of the shape"
        );
        assert!(
            object.get("secretText").is_none_or(|v| v.is_null()),
            "{how}: secretText is never set on reads"
        );
    };

    for path in [
        format!("/applications/{id}?{select}"),
        format!("/applications(appId='{app_id}')?{select}"),
    ] {
        let read = env.get(&path).await;
        assert_eq!(read.status, 200, "{}", read.text);
        check_password(&read.body, &read.text, &path);
        assert_eq!(
            read.body["keyCredentials"][0]["key"],
            json!(key),
            "{path}: a single-object read that selects keyCredentials carries the certificate"
        );
        assert!(
            read.body.get("displayName").is_none(),
            "{path}: only what was selected"
        );
    }

    let plain = env.get(&format!("/applications/{id}")).await;
    check_password(&plain.body, &plain.text, "plain read");
    assert_eq!(plain.body["keyCredentials"][0]["key"], json!(null));
    let listed = env
        .get(&format!(
            "/applications?$filter={}&{select}",
            crate::support::urlencode(&format!("appId eq '{app_id}'"))
        ))
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    check_password(&listed.body["value"][0], &listed.text, "list");
    assert_eq!(
        listed.body["value"][0]["keyCredentials"][0]["key"],
        json!(null),
        "collections never carry certificate bytes"
    );

    let batch = env
        .post(
            "/$batch",
            json!({"requests": [{"id": "1", "method": "GET", "url": format!("/applications/{id}?{select}")}]}),
        )
        .await;
    assert_eq!(batch.status, 200, "{}", batch.text);
    let item = &batch.body["responses"][0];
    assert_eq!(item["status"], 200);
    check_password(&item["body"], &batch.text, "batch");
    assert_eq!(item["body"]["keyCredentials"][0]["key"], json!(key));
}
