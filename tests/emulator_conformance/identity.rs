//! The sandbox as an identity platform that MSAL-based clients use unchanged: https with a sandbox
//! CA, OpenID discovery, instance discovery, the key set, RS256 access tokens, scopes as Entra
//! reads them, and absolute links built from the address the client called.

use appreg::emulator::{Faults, SandboxConfig};
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Env, into_answer};

fn decode(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn fetch(env: &Env, url: &str) -> crate::support::Answer {
    into_answer(env.http.get(url).send().await.unwrap()).await
}

/// <https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc#find-your-apps-openid-configuration-document-uri>
#[tokio::test]
async fn openid_configuration_points_at_the_sandbox() {
    let env = Env::start().await;
    let authority = env.sandbox.authority_url();
    let tenant = env.sandbox.tenant_id();
    let v2 = fetch(
        &env,
        &format!("{authority}/{tenant}/v2.0/.well-known/openid-configuration"),
    )
    .await;
    assert_eq!(v2.status, 200, "{}", v2.text);
    assert_eq!(
        v2.body["token_endpoint"],
        json!(env.sandbox.token_url()),
        "the token endpoint is the sandbox's"
    );
    assert_eq!(
        v2.body["issuer"],
        json!(format!("https://login.microsoftonline.com/{tenant}/v2.0"))
    );
    assert_eq!(
        v2.body["jwks_uri"],
        json!(format!("{authority}/{tenant}/discovery/v2.0/keys"))
    );
    assert_eq!(
        v2.body["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );

    let v1 = fetch(
        &env,
        &format!("{authority}/{tenant}/.well-known/openid-configuration"),
    )
    .await;
    assert_eq!(v1.status, 200, "{}", v1.text);
    assert_eq!(
        v1.body["issuer"],
        json!(format!("https://sts.windows.net/{tenant}/"))
    );

    let by_domain = fetch(
        &env,
        &format!("{authority}/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"),
    )
    .await;
    assert_eq!(by_domain.status, 200, "a verified domain names the tenant");

    let unknown = fetch(
        &env,
        &format!("{authority}/fabrikam.onmicrosoft.com/v2.0/.well-known/openid-configuration"),
    )
    .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.body["error_codes"], json!([90002]));
}

/// MSAL's instance discovery vouches for the sandbox's own host only.
/// <https://learn.microsoft.com/en-us/entra/identity-platform/msal-net-instance-discovery>
#[tokio::test]
async fn instance_discovery_vouches_for_the_sandbox_host_only() {
    let env = Env::start().await;
    let authority = env.sandbox.authority_url();
    let port = env.sandbox.local_addr().port();
    // MSAL sends the authorization endpoint without the port.
    let own = format!(
        "{authority}/common/discovery/instance?api-version=1.1&authorization_endpoint=https://127.0.0.1/{}/oauth2/v2.0/authorize",
        env.sandbox.tenant_id()
    );
    let answer = fetch(&env, &own).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.body["tenant_discovery_endpoint"],
        json!(format!(
            "{authority}/{}/v2.0/.well-known/openid-configuration",
            env.sandbox.tenant_id()
        ))
    );
    assert_eq!(
        answer.body["metadata"][0]["aliases"],
        json!([format!("127.0.0.1:{port}")])
    );
    let foreign = fetch(
        &env,
        &format!("{authority}/common/discovery/instance?api-version=1.1&authorization_endpoint=https://login.example.com/common/oauth2/v2.0/authorize"),
    )
    .await;
    assert_eq!(foreign.status, 400);
    assert_eq!(foreign.body["error"], "invalid_instance");
}

/// Access tokens are RS256 JWTs whose `kid` is in the published key set, with Entra's claims.
/// <https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens#validate-the-signature>,
/// <https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference>
#[tokio::test]
async fn access_tokens_verify_with_the_published_key() {
    let env = Env::start().await;
    let parts: Vec<&str> = env.token.split('.').collect();
    let header = decode(parts[0]);
    let claims = decode(parts[1]);
    assert_eq!(header["alg"], "RS256");
    let keys = fetch(
        &env,
        &format!(
            "{}/{}/discovery/v2.0/keys",
            env.sandbox.authority_url(),
            env.sandbox.tenant_id()
        ),
    )
    .await;
    assert_eq!(keys.status, 200, "{}", keys.text);
    let jwk = keys.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the token's kid is in the key set")
        .clone();
    assert_eq!(jwk["kty"], "RSA");
    let public = RsaPublicKeyComponents {
        n: URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap(),
        e: URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap(),
    };
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    public
        .verify(
            &RSA_PKCS1_2048_8192_SHA256,
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &signature,
        )
        .expect("the signature verifies with the published key");
    let tenant = env.sandbox.tenant_id();
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
    assert_eq!(
        claims["iss"],
        json!(format!("https://sts.windows.net/{tenant}/"))
    );
    assert_eq!(claims["tid"], json!(tenant));
    assert_eq!(claims["appid"], json!(env.sandbox.admin_client_id()));
    assert!(claims["roles"].as_array().is_some_and(|r| !r.is_empty()));
    assert!(claims["exp"].as_i64().unwrap() > chrono::Utc::now().timestamp());

    // A token signed by any other key is refused, even with the same claims.
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let mut forged = vec![0u8; key.public_modulus_len()];
    key.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
        &mut forged,
    )
    .unwrap();
    let other = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(forged)
    );
    let refused = env
        .call_as(&other, Method::GET, "/applications", None, &[])
        .await;
    assert_eq!(refused.status, 401);
}

/// Scopes as Entra reads them in the client-credentials flow.
/// <https://learn.microsoft.com/en-us/entra/identity-platform/scopes-oidc#the-default-scope>,
/// <https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes> (AADSTS500011)
#[tokio::test]
async fn scopes_as_entra_reads_them() {
    let env = Env::start().await;
    let request = |scope: &'static str| {
        let env = &env;
        async move {
            env.token_request(&[
                ("grant_type", "client_credentials"),
                ("client_id", env.sandbox.admin_client_id()),
                ("client_secret", env.sandbox.admin_client_secret()),
                ("scope", scope),
            ])
            .await
        }
    };
    for scope in [
        "https://graph.microsoft.com//.default",
        "https://graph.microsoft.com/.default",
        "00000003-0000-0000-c000-000000000000/.default",
    ] {
        let answer = request(scope).await;
        assert_eq!(answer.status, 200, "{scope}: {}", answer.text);
        let token = answer.body["access_token"].as_str().unwrap();
        let claims = decode(token.split('.').nth(1).unwrap());
        assert_eq!(claims["aud"], "https://graph.microsoft.com", "{scope}");
        let works = env
            .call_as(token, Method::GET, "/applications?$top=1", None, &[])
            .await;
        assert_eq!(works.status, 200, "{scope}");
    }
    let unknown = request("https://unknown.example.com/.default").await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.body["error"], "invalid_resource");
    assert_eq!(unknown.body["error_codes"], json!([500011]));
    let not_default = request("User.Read").await;
    assert_eq!(not_default.status, 400);
    assert_eq!(not_default.body["error_codes"], json!([1002012]));

    // An API registered in the tenant is a resource too, named by its identifier URI or appId.
    let api = env
        .post(
            "/applications",
            json!({"displayName": "orders api", "identifierUris": ["api://contoso-orders"]}),
        )
        .await;
    assert_eq!(api.status, 201, "{}", api.text);
    let sp = env
        .post("/servicePrincipals", json!({"appId": api.body["appId"]}))
        .await;
    assert_eq!(sp.status, 201, "{}", sp.text);
    let answer = request("api://contoso-orders/.default").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let token = answer.body["access_token"].as_str().unwrap();
    assert_eq!(
        decode(token.split('.').nth(1).unwrap())["aud"],
        "api://contoso-orders"
    );
    let refused = env
        .call_as(token, Method::GET, "/applications", None, &[])
        .await;
    assert_eq!(refused.status, 401, "Graph refuses a token for another API");
}

/// `sandbox serve --tls`: https with a certificate for the loopback names, signed by a CA that
/// is the only thing a client must trust.
#[tokio::test]
async fn https_with_the_sandbox_ca() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("sandbox.json");
    let env = Env::with(SandboxConfig {
        tls: true,
        state_file: Some(state.clone()),
        ..SandboxConfig::default()
    })
    .await;
    assert!(env.sandbox.graph_url().starts_with("https://127.0.0.1:"));
    let info = env.sandbox.connection_info();
    let ca_path = info.ca_cert_path.clone().expect("caCertPath in the line");
    assert_eq!(
        std::path::Path::new(&ca_path),
        dir.path().join("sandbox-ca.pem")
    );
    assert_eq!(
        std::fs::read_to_string(&ca_path).unwrap(),
        env.sandbox.ca_cert_pem().unwrap()
    );
    let answer = env.get("/applications?$top=1").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let by_name = env
        .http
        .get(env.sandbox.graph_url().replace("127.0.0.1", "localhost") + "/applications?$top=1")
        .bearer_auth(&env.token)
        .send()
        .await
        .expect("the certificate names localhost too");
    assert_eq!(by_name.status(), 200);

    let untrusting = reqwest::Client::builder()
        .tls_certs_only(Vec::<reqwest::Certificate>::new())
        .build()
        .unwrap();
    assert!(
        untrusting
            .get(env.sandbox.graph_url())
            .send()
            .await
            .is_err(),
        "a client that does not trust the sandbox CA is refused"
    );

    // The CA survives a restart: a client configured once keeps working.
    let first_ca = env.sandbox.ca_cert_pem().unwrap().to_string();
    env.sandbox.shutdown().await;
    let again = appreg::emulator::Sandbox::start(SandboxConfig {
        tls: true,
        state_file: Some(state),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(again.ca_cert_pem(), Some(first_ca.as_str()));
}

/// `@odata.nextLink` follows the address the client called, and a proxy's forwarded headers.
/// <https://learn.microsoft.com/en-us/graph/paging>
#[tokio::test]
async fn next_links_follow_the_called_address() {
    let env = Env::with_faults(Faults {
        page_size_cap: Some(1),
        ..Faults::default()
    })
    .await;
    env.app("one").await;
    let port = env.sandbox.local_addr().port();
    let by_localhost = into_answer(
        env.http
            .get(format!("http://localhost:{port}/v1.0/applications"))
            .bearer_auth(&env.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(by_localhost.status, 200, "{}", by_localhost.text);
    let link = by_localhost.body["@odata.nextLink"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("http://localhost:{port}/v1.0/applications?")),
        "{link}"
    );
    let followed = env.get(link).await;
    assert_eq!(followed.status, 200, "the link works as given");

    let proxied = env
        .call(
            Method::GET,
            "/applications",
            None,
            &[
                ("X-Forwarded-Host", "graph.contoso.test"),
                ("X-Forwarded-Proto", "https"),
            ],
        )
        .await;
    assert!(
        proxied.body["@odata.nextLink"]
            .as_str()
            .unwrap()
            .starts_with("https://graph.contoso.test/v1.0/applications?"),
        "{}",
        proxied.text
    );
    assert!(
        proxied.body["@odata.context"]
            .as_str()
            .unwrap()
            .starts_with("https://graph.contoso.test/v1.0/$metadata"),
        "{}",
        proxied.text
    );
}
