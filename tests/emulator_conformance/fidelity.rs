//! Endpoints real clients call and rules Graph enforces (issue: sandbox fidelity II), one test per
//! endpoint or rule, each citing the Microsoft Learn page it follows.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::Method;
use serde_json::{Value, json};

use crate::credentials::cert_der;
use crate::support::Env;

const PKCS8: &[u8] = include_bytes!("../fixtures/sandbox-client.pk8");
const EVENTUAL: [(&str, &str); 1] = [("ConsistencyLevel", "eventual")];

/// A proof-of-possession token for addKey/removeKey, signed by the fixture certificate's key.
fn proof(object_id: &str, lifetime_secs: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let header = json!({"alg": "RS256", "typ": "JWT"});
    let claims = json!({"aud": "00000002-0000-0000-c000-000000000000", "iss": object_id, "nbf": now - 5, "exp": now - 5 + lifetime_secs});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let key = RsaKeyPair::from_pkcs8(PKCS8).unwrap();
    let mut signature = vec![0u8; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn key_credential() -> Value {
    json!({"type": "AsymmetricX509Cert", "usage": "Verify", "key": STANDARD.encode(cert_der())})
}

/// <https://learn.microsoft.com/en-us/graph/api/serviceprincipal-addpassword>,
/// <https://learn.microsoft.com/en-us/graph/api/serviceprincipal-removepassword>
#[tokio::test]
async fn service_principal_add_and_remove_password() {
    let env = Env::start().await;
    let (_, sp) = env.app_with_sp("sp secrets").await;
    let id = sp["id"].as_str().unwrap();
    let added = env
        .post(
            &format!("/servicePrincipals/{id}/addPassword"),
            json!({"passwordCredential": {"displayName": "saml"}}),
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.text);
    assert!(
        added.body["secretText"]
            .as_str()
            .is_some_and(|s| s.len() > 30)
    );
    let key_id = added.body["keyId"].as_str().unwrap().to_string();
    let read = env.get(&format!("/servicePrincipals/{id}")).await;
    assert_eq!(read.body["passwordCredentials"][0]["keyId"], json!(key_id));
    assert!(read.body["passwordCredentials"][0]["secretText"].is_null());
    let removed = env
        .post(
            &format!("/servicePrincipals/{id}/removePassword"),
            json!({"keyId": key_id}),
        )
        .await;
    assert_eq!(removed.status, 204, "{}", removed.text);
    let read = env.get(&format!("/servicePrincipals/{id}")).await;
    assert_eq!(read.body["passwordCredentials"], json!([]));
}

/// addKey and removeKey need a proof signed by a certificate the object already has.
/// <https://learn.microsoft.com/en-us/graph/api/application-addkey>,
/// <https://learn.microsoft.com/en-us/graph/api/serviceprincipal-addkey>,
/// <https://learn.microsoft.com/en-us/graph/application-rollkey-prooftoken>
#[tokio::test]
async fn add_key_and_remove_key_need_a_proof() {
    let env = Env::start().await;
    let (app, sp) = env.app_with_sp("rolling keys").await;
    for (collection, object) in [("applications", &app), ("servicePrincipals", &sp)] {
        let id = object["id"].as_str().unwrap();
        let base = format!("/{collection}/{id}");
        let without_cert = env
            .post(
                &format!("{base}/addKey"),
                json!({"keyCredential": key_credential(), "proof": proof(id, 600)}),
            )
            .await;
        assert_eq!(
            without_cert.status, 400,
            "{collection}: no certificate yet to prove with: {}",
            without_cert.text
        );
        let patched = env
            .patch(&base, json!({"keyCredentials": [key_credential()]}))
            .await;
        assert_eq!(patched.status, 204, "{}", patched.text);
        let too_long = env
            .post(
                &format!("{base}/addKey"),
                json!({"keyCredential": key_credential(), "proof": proof(id, 3600)}),
            )
            .await;
        assert_eq!(
            too_long.status, 400,
            "{collection}: a proof lives ten minutes at most"
        );
        let wrong_issuer = env
            .post(
                &format!("{base}/addKey"),
                json!({"keyCredential": key_credential(), "proof": proof("00000000-0000-0000-0000-000000000001", 600)}),
            )
            .await;
        assert_eq!(wrong_issuer.status, 400);
        let added = env
            .post(
                &format!("{base}/addKey"),
                json!({"keyCredential": key_credential(), "passwordCredential": null, "proof": proof(id, 600)}),
            )
            .await;
        assert_eq!(added.status, 200, "{collection}: {}", added.text);
        let key_id = added.body["keyId"].as_str().unwrap().to_string();
        assert!(
            added.body["key"].is_null(),
            "the answer does not echo the key"
        );
        let listed = env.get(&base).await;
        assert_eq!(
            listed.body["keyCredentials"].as_array().unwrap().len(),
            2,
            "{}",
            listed.text
        );
        let removed = env
            .post(
                &format!("{base}/removeKey"),
                json!({"keyId": key_id, "proof": proof(id, 600)}),
            )
            .await;
        assert_eq!(removed.status, 204, "{collection}: {}", removed.text);
        let listed = env.get(&base).await;
        assert_eq!(listed.body["keyCredentials"].as_array().unwrap().len(), 1);
    }
}

/// A federated identity credential is addressed by its name as well as its id (GET, PATCH,
/// DELETE). <https://learn.microsoft.com/en-us/graph/api/federatedidentitycredential-get>
#[tokio::test]
async fn federated_credentials_by_name_and_by_id() {
    let env = Env::start().await;
    let app = env.app("federated").await;
    let base = format!(
        "/applications/{}/federatedIdentityCredentials",
        app["id"].as_str().unwrap()
    );
    let created = env
        .post(
            &base,
            json!({"name": "deploy", "issuer": "https://token.actions.githubusercontent.com", "subject": "repo:c/a:ref:refs/heads/main", "audiences": ["api://AzureADTokenExchange"]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap();
    for key in [format!("{base}(name='deploy')"), format!("{base}/{id}")] {
        let read = env.get(&key).await;
        assert_eq!(read.status, 200, "{key}: {}", read.text);
        assert_eq!(read.body["name"], "deploy");
        let patched = env
            .patch(&key, json!({"subject": format!("repo:c/a:{key}")}))
            .await;
        assert_eq!(patched.status, 204, "{key}: {}", patched.text);
    }
    assert_eq!(
        env.delete(&format!("{base}(name='deploy')")).await.status,
        204
    );
    assert_eq!(env.get(&format!("{base}/{id}")).await.status, 404);
}

/// Graph's schema aliases its namespace `microsoft.graph` as `graph`: every type cast takes both.
/// <https://learn.microsoft.com/en-us/graph/api/directory-deleteditems-list>
#[tokio::test]
async fn the_graph_namespace_alias_works_for_type_casts() {
    let env = Env::start().await;
    let app = env.app("deleted").await;
    let id = app["id"].as_str().unwrap();
    assert_eq!(env.delete(&format!("/applications/{id}")).await.status, 204);
    for cast in ["microsoft.graph.application", "graph.application"] {
        let listed = env.get(&format!("/directory/deletedItems/{cast}")).await;
        assert_eq!(listed.status, 200, "{cast}: {}", listed.text);
        assert!(
            listed.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["id"] == json!(id)),
            "{cast}"
        );
    }
    let unknown = env.get("/directory/deletedItems/graph.nothing").await;
    assert_eq!(unknown.status, 400);
}

/// `/organization` lists the verified domains and `/domains` serves them.
/// <https://learn.microsoft.com/en-us/graph/api/domain-list>,
/// <https://learn.microsoft.com/en-us/graph/api/organization-get>
#[tokio::test]
async fn organization_and_domains_list_verified_domains() {
    let env = Env::with(appreg::emulator::SandboxConfig {
        verified_domains: vec!["Fabrikam.example".into()],
        ..appreg::emulator::SandboxConfig::default()
    })
    .await;
    let org = env.get("/organization").await;
    assert_eq!(org.status, 200, "{}", org.text);
    let names: Vec<&str> = org.body["value"][0]["verifiedDomains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["contoso.onmicrosoft.com", "contoso.com", "fabrikam.example"]
    );
    let domains = env.get("/domains").await;
    assert_eq!(domains.status, 200, "{}", domains.text);
    let initial: Vec<&Value> = domains.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["isInitial"] == json!(true))
        .collect();
    assert_eq!(initial.len(), 1);
    assert_eq!(initial[0]["id"], "contoso.onmicrosoft.com");
    let one = env.get("/domains/fabrikam.example").await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["isVerified"], json!(true));
    assert_eq!(env.get("/domains/unverified.example").await.status, 404);

    // Reading domains takes Domain.Read.All (or Directory.Read.All).
    // <https://learn.microsoft.com/en-us/graph/api/domain-list#permissions>
    let app = env.app("no roles").await;
    let secret = env.add_password(app["id"].as_str().unwrap()).await["secretText"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        env.post("/servicePrincipals", json!({"appId": app["appId"]}))
            .await
            .status,
        201
    );
    let token = env.token_for(app["appId"].as_str().unwrap(), &secret).await;
    let denied = env
        .call_as(&token, Method::GET, "/domains", None, &[])
        .await;
    assert_eq!(denied.status, 403, "{}", denied.text);
}

async fn create(env: &Env, body: Value) -> crate::support::Answer {
    env.post("/applications", body).await
}

/// identifierUris: an http(s) host must be a verified domain (or a subdomain of one); no
/// wildcards; at most 255 characters.
/// <https://learn.microsoft.com/en-us/entra/identity-platform/identifier-uri-restrictions>,
/// <https://learn.microsoft.com/en-us/entra/identity-platform/supported-accounts-validation>
#[tokio::test]
async fn identifier_uris_use_verified_domains() {
    let env = Env::with(appreg::emulator::SandboxConfig {
        verified_domains: vec!["fabrikam.example".into()],
        ..appreg::emulator::SandboxConfig::default()
    })
    .await;
    let refused = create(
        &env,
        json!({"displayName": "a", "identifierUris": ["https://unverified.example/api"]}),
    )
    .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    let (code, message) = refused.error();
    assert_eq!(code, "HostNameNotOnVerifiedDomain");
    assert!(
        message.contains("'https://unverified.example/api'"),
        "{message}"
    );
    for (n, uri) in [
        "https://contoso.com/api",
        "https://orders.contoso.com",
        "https://contoso.onmicrosoft.com/orders",
        "https://api.fabrikam.example/x",
        "api://orders-anything",
    ]
    .iter()
    .enumerate()
    {
        let ok = create(
            &env,
            json!({"displayName": format!("ok {n}"), "identifierUris": [uri]}),
        )
        .await;
        assert_eq!(ok.status, 201, "{uri}: {}", ok.text);
    }
    let wildcard = create(
        &env,
        json!({"displayName": "w", "identifierUris": ["api://*.contoso"]}),
    )
    .await;
    assert_eq!(wildcard.status, 400, "{}", wildcard.text);
    let long = format!("api://{}", "x".repeat(250));
    let too_long = create(&env, json!({"displayName": "l", "identifierUris": [long]})).await;
    assert_eq!(too_long.status, 400, "{}", too_long.text);
    let at_limit = format!("api://{}", "y".repeat(249));
    let fits = create(
        &env,
        json!({"displayName": "f", "identifierUris": [at_limit]}),
    )
    .await;
    assert_eq!(fits.status, 201, "255 characters fit: {}", fits.text);
}

/// Apps that sign in personal accounts: no wildcard or query string in redirect URIs, no app
/// roles, no `urn:` identifierUris.
/// <https://learn.microsoft.com/en-us/entra/identity-platform/supported-accounts-validation>,
/// <https://learn.microsoft.com/en-us/entra/identity-platform/reply-url>
#[tokio::test]
async fn personal_account_apps_have_stricter_rules() {
    let env = Env::start().await;
    let personal = |extra: Value| {
        let mut body = json!({"displayName": "p", "signInAudience": "AzureADandPersonalMicrosoftAccount", "api": {"requestedAccessTokenVersion": 2}});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (
            json!({"web": {"redirectUris": ["https://*.contoso.com/cb"]}}),
            "wildcard redirect URI",
        ),
        (
            json!({"web": {"redirectUris": ["https://contoso.com/cb?x=1"]}}),
            "query string in a redirect URI",
        ),
        (
            json!({"appRoles": [{"id": "00000000-0000-0000-0000-0000000000a1", "allowedMemberTypes": ["User"], "description": "d", "displayName": "r", "isEnabled": true, "value": "r"}]}),
            "app roles",
        ),
        (
            json!({"identifierUris": ["urn:contoso:orders"]}),
            "urn: identifier URI",
        ),
    ];
    for (extra, why) in cases {
        let refused = create(&env, personal(extra.clone())).await;
        assert_eq!(refused.status, 400, "{why}: {}", refused.text);
        let mut org = personal(extra);
        org["signInAudience"] = json!("AzureADMyOrg");
        let accepted = create(&env, org).await;
        assert_eq!(
            accepted.status, 201,
            "{why} is fine for a single-tenant app: {}",
            accepted.text
        );
    }
}

/// requiredResourceAccess: at most 400 permissions in all; a scope value at most 120 characters.
/// <https://learn.microsoft.com/en-us/entra/identity-platform/supported-accounts-validation>
#[tokio::test]
async fn permission_and_scope_limits() {
    let env = Env::start().await;
    let access = |count: usize| {
        let items: Vec<Value> = (0..count)
            .map(|i| json!({"id": format!("00000000-0000-0000-0000-{i:012}"), "type": "Scope"}))
            .collect();
        json!([
            {"resourceAppId": "00000003-0000-0000-c000-000000000000", "resourceAccess": items[..count / 2]},
            {"resourceAppId": "00000002-0000-0ff1-ce00-000000000000", "resourceAccess": items[count / 2..]},
        ])
    };
    let fits = create(
        &env,
        json!({"displayName": "400", "requiredResourceAccess": access(400)}),
    )
    .await;
    assert_eq!(fits.status, 201, "{}", fits.text);
    let over = create(
        &env,
        json!({"displayName": "401", "requiredResourceAccess": access(401)}),
    )
    .await;
    assert_eq!(over.status, 400, "{}", over.text);

    let scope = |value: String| json!({"displayName": "api", "api": {"oauth2PermissionScopes": [{"id": "00000000-0000-0000-0000-0000000000b1", "adminConsentDescription": "d", "adminConsentDisplayName": "d", "isEnabled": true, "type": "User", "value": value}]}});
    assert_eq!(create(&env, scope("s".repeat(120))).await.status, 201);
    assert_eq!(create(&env, scope("s".repeat(121))).await.status, 400);
}

/// Changing or removing an enabled app role answers the top-level code
/// CannotDeleteOrUpdateEnabledEntitlement.
/// <https://learn.microsoft.com/en-us/entra/identity-platform/howto-add-app-roles-in-apps>
#[tokio::test]
async fn enabled_entitlements_answer_their_code_at_the_top() {
    let env = Env::start().await;
    let role = json!({"id": "00000000-0000-0000-0000-0000000000c1", "allowedMemberTypes": ["Application"], "description": "d", "displayName": "r", "isEnabled": true, "value": "orders.read"});
    let app = create(&env, json!({"displayName": "roles", "appRoles": [role]})).await;
    assert_eq!(app.status, 201, "{}", app.text);
    let refused = env
        .patch(
            &format!("/applications/{}", app.body["id"].as_str().unwrap()),
            json!({"appRoles": []}),
        )
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.error().0, "CannotDeleteOrUpdateEnabledEntitlement");
}

/// $batch: item urls are relative, and ids are unique whatever their case.
/// <https://learn.microsoft.com/en-us/graph/json-batching#creating-a-batch-request>
#[tokio::test]
async fn batch_items_are_relative_and_uniquely_named() {
    let env = Env::start().await;
    let absolute = env
        .post(
            "/$batch",
            json!({"requests": [{"id": "1", "method": "GET", "url": "https://graph.microsoft.com/v1.0/applications"}]}),
        )
        .await;
    assert_eq!(absolute.status, 400, "{}", absolute.text);
    let same_id = env
        .post(
            "/$batch",
            json!({"requests": [
                {"id": "a", "method": "GET", "url": "/applications"},
                {"id": "A", "method": "GET", "url": "/servicePrincipals"}
            ]}),
        )
        .await;
    assert_eq!(same_id.status, 400, "{}", same_id.text);
    let fine = env
        .post(
            "/$batch",
            json!({"requests": [
                {"id": "a", "method": "GET", "url": "/applications"},
                {"id": "b", "method": "GET", "url": "applications?$top=1", "dependsOn": ["A"]}
            ]}),
        )
        .await;
    assert_eq!(fine.status, 200, "{}", fine.text);
    assert!(
        fine.body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == 200),
        "dependsOn names an earlier id whatever its case: {}",
        fine.text
    );
}

/// `$expand` does not combine with advanced query parameters; `$count=true` without the header is
/// ignored; `in` takes more than 15 values in an advanced query.
/// <https://learn.microsoft.com/en-us/graph/aad-advanced-queries>
#[tokio::test]
async fn advanced_query_parameters_as_graph_treats_them() {
    let env = Env::start().await;
    env.app("counted").await;
    for headers in [&EVENTUAL[..], &[]] {
        let expand = env
            .call(
                Method::GET,
                "/applications?$expand=owners&$count=true",
                None,
                headers,
            )
            .await;
        if headers.is_empty() {
            // Without the header $count is ignored, so this is a plain $expand.
            assert_eq!(expand.status, 200, "{}", expand.text);
            assert!(expand.body.get("@odata.count").is_none());
        } else {
            assert_eq!(expand.status, 400, "{}", expand.text);
            assert_eq!(expand.error().0, "Request_UnsupportedQuery");
        }
    }
    let values: Vec<String> = (0..20)
        .map(|i| format!("'00000000-0000-0000-0000-{i:012}'"))
        .collect();
    let filter = crate::support::urlencode(&format!("appId in ({})", values.join(",")));
    let plain = env.get(&format!("/applications?$filter={filter}")).await;
    assert_eq!(plain.status, 400, "{}", plain.text);
    let advanced = env
        .call(
            Method::GET,
            &format!("/applications?$filter={filter}&$count=true"),
            None,
            &EVENTUAL,
        )
        .await;
    assert_eq!(advanced.status, 200, "{}", advanced.text);
}
