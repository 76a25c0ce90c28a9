use std::time::Duration;

use appreg::emulator::SandboxConfig;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::credentials::cert_der;
use crate::support::Env;

const PKCS8: &[u8] = include_bytes!("../fixtures/sandbox-client.pk8");

fn sign_assertion(header: Value, claims: Value) -> String {
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

fn claims(env: &Env, client_id: &str, exp_offset: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"aud": env.sandbox.token_url(), "iss": client_id, "sub": client_id, "jti": "1", "nbf": now - 10, "exp": now + exp_offset})
}

#[tokio::test]
async fn graph_requests_need_a_token_the_sandbox_issued() {
    let env = Env::start().await;
    let url = env.url("/applications");
    let none = crate::support::into_answer(env.http.get(&url).send().await.unwrap()).await;
    assert_eq!(none.status, 401);
    assert_eq!(
        none.error(),
        (
            "InvalidAuthenticationToken".into(),
            "Access token is empty.".into()
        )
    );
    assert!(
        none.header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    let garbage = env
        .call_as("garbage", Method::GET, "/applications", None, &[])
        .await;
    assert_eq!(garbage.status, 401);
    assert_eq!(
        garbage.error().1,
        "CompactToken parsing failed with error code: 80049217"
    );
    let mut forged: Vec<String> = env.token.split('.').map(str::to_string).collect();
    forged[2] = URL_SAFE_NO_PAD.encode([0u8; 32]);
    let forged = env
        .call_as(&forged.join("."), Method::GET, "/applications", None, &[])
        .await;
    assert_eq!(forged.status, 401);
    assert_eq!(forged.error().1, "Access token validation failure.");
}

#[tokio::test]
async fn tokens_expire() {
    let env = Env::with(SandboxConfig {
        token_lifetime: Duration::from_secs(1),
        ..SandboxConfig::default()
    })
    .await;
    assert_eq!(env.get("/organization").await.status, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let expired = env.get("/organization").await;
    assert_eq!(expired.status, 401);
    assert_eq!(
        expired.error().1,
        "Lifetime validation failed, the token is expired."
    );
}

#[tokio::test]
async fn token_endpoint_answers_like_entra() {
    let env = Env::start().await;
    let id = env.sandbox.admin_client_id().to_string();
    let ok = env
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", env.sandbox.admin_client_secret()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body["token_type"], "Bearer");
    assert!(ok.body["expires_in"].as_i64().unwrap() > 3000);
    let payload = ok.body["access_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap()
        .to_string();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["tid"], env.sandbox.tenant_id());
    assert_eq!(claims["appid"], id);
    assert!(
        claims["roles"]
            .as_array()
            .unwrap()
            .contains(&json!("Application.ReadWrite.All"))
    );

    let wrong = env
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", "nope"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.body["error"], "invalid_client");
    assert_eq!(wrong.body["error_codes"], json!([7000215]));
    assert!(
        wrong.body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215:")
    );

    let unknown = env
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", "11111111-1111-1111-1111-111111111111"),
            ("client_secret", "x"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.body["error"], "unauthorized_client");

    let scope = env
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", env.sandbox.admin_client_secret()),
            ("scope", "User.Read"),
        ])
        .await;
    assert_eq!(scope.status, 400);
    assert_eq!(scope.body["error"], "invalid_scope");

    let basic = crate::support::form(
        env.http
            .post(env.sandbox.token_url())
            .basic_auth(&id, Some(env.sandbox.admin_client_secret())),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(
        basic.status(),
        200,
        "HTTP Basic client authentication works too"
    );

    let tenant = crate::support::form(
        env.http.post(format!(
            "{}/contoso.example/oauth2/v2.0/token",
            env.sandbox.authority_url()
        )),
        &[("grant_type", "client_credentials")],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(tenant.status(), 400);
}

#[tokio::test]
async fn client_assertion_signed_by_a_registered_certificate() {
    let env = Env::start().await;
    let (app, _) = env.app_with_sp("cert-client").await;
    let client_id = app["appId"].as_str().unwrap().to_string();
    let der = cert_der();
    let patched = env
        .patch(&format!("/applications/{}", app["id"].as_str().unwrap()), json!({"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": STANDARD.encode(&der)}]}))
        .await;
    assert_eq!(patched.status, 204);
    let x5t_s256 = URL_SAFE_NO_PAD.encode(Sha256::digest(&der));
    let request = |assertion: String| {
        let client_id = client_id.clone();
        let env = &env;
        async move {
            env.token_request(&[
                ("grant_type", "client_credentials"),
                ("client_id", &client_id),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &assertion),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .await
        }
    };
    let good = request(sign_assertion(
        json!({"alg": "RS256", "typ": "JWT", "x5t#S256": x5t_s256}),
        claims(&env, &client_id, 600),
    ))
    .await;
    assert_eq!(good.status, 200, "{}", good.text);
    let token = good.body["access_token"].as_str().unwrap();
    assert_eq!(
        env.call_as(token, Method::GET, "/organization", None, &[])
            .await
            .status,
        200
    );

    let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
    let legacy = request(sign_assertion(
        json!({"alg": "RS256", "x5t": URL_SAFE_NO_PAD.encode(sha1.as_ref())}),
        claims(&env, &client_id, 600),
    ))
    .await;
    assert_eq!(
        legacy.status, 200,
        "x5t (SHA-1) identifies the certificate too: {}",
        legacy.text
    );

    let mut wrong_audience = claims(&env, &client_id, 600);
    wrong_audience["aud"] = json!("https://login.microsoftonline.com/other/oauth2/v2.0/token");
    let refused = request(sign_assertion(
        json!({"alg": "RS256", "x5t#S256": x5t_s256}),
        wrong_audience,
    ))
    .await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.body["error"], "invalid_client");

    let expired = request(sign_assertion(
        json!({"alg": "RS256", "x5t#S256": x5t_s256}),
        claims(&env, &client_id, -3600),
    ))
    .await;
    assert_eq!(expired.status, 401);

    let unknown_cert = request(sign_assertion(
        json!({"alg": "RS256", "x5t#S256": URL_SAFE_NO_PAD.encode([7u8; 32])}),
        claims(&env, &client_id, 600),
    ))
    .await;
    assert_eq!(unknown_cert.status, 401);

    let good_header = json!({"alg": "RS256", "x5t#S256": x5t_s256});
    let mut tampered: Vec<String> = sign_assertion(good_header, claims(&env, &client_id, 600))
        .split('.')
        .map(str::to_string)
        .collect();
    let mut other_claims = claims(&env, &client_id, 900);
    other_claims["jti"] = json!("2");
    tampered[1] = URL_SAFE_NO_PAD.encode(other_claims.to_string());
    let bad_signature = request(tampered.join(".")).await;
    assert_eq!(bad_signature.status, 401);
    assert!(
        bad_signature.body["error_description"]
            .as_str()
            .unwrap()
            .contains("signature")
    );
}

#[tokio::test]
async fn least_privilege_with_application_readwrite_ownedby() {
    let env = Env::start().await;
    let (automation, sp) = env.app_with_sp("automation").await;
    let secret = env.add_password(automation["id"].as_str().unwrap()).await["secretText"]
        .as_str()
        .unwrap()
        .to_string();
    let client_id = automation["appId"].as_str().unwrap().to_string();

    let no_roles = env.token_for(&client_id, &secret).await;
    let denied = env
        .call_as(&no_roles, Method::GET, "/applications", None, &[])
        .await;
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.error(),
        (
            "Authorization_RequestDenied".into(),
            "Insufficient privileges to complete the operation.".into()
        )
    );

    let graph = env.graph_sp().await;
    let graph_id = graph["id"].as_str().unwrap();
    let owned_by = "18a4783c-866b-4cc7-a460-3d5e5662c884";
    let assigned = env
        .post(
            &format!("/servicePrincipals/{graph_id}/appRoleAssignedTo"),
            json!({"principalId": sp["id"], "resourceId": graph_id, "appRoleId": owned_by}),
        )
        .await;
    assert_eq!(assigned.status, 201, "{}", assigned.text);
    let token = env.token_for(&client_id, &secret).await;
    let as_automation = |method: Method, path: String, body: Option<Value>| {
        let env = &env;
        let token = token.clone();
        async move { env.call_as(&token, method, &path, body, &[]).await }
    };
    assert_eq!(
        as_automation(Method::GET, "/applications".into(), None)
            .await
            .status,
        200
    );
    let own = as_automation(
        Method::POST,
        "/applications".into(),
        Some(json!({"displayName": "owned"})),
    )
    .await;
    assert_eq!(own.status, 201);
    let own_id = own.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        as_automation(
            Method::PATCH,
            format!("/applications/{own_id}"),
            Some(json!({"notes": "mine"}))
        )
        .await
        .status,
        204
    );
    let own_sp = as_automation(
        Method::POST,
        "/servicePrincipals".into(),
        Some(json!({"appId": own.body["appId"]})),
    )
    .await;
    assert_eq!(own_sp.status, 201, "{}", own_sp.text);
    let foreign = env.app("not mine").await;
    let refused = as_automation(
        Method::PATCH,
        format!("/applications/{}", foreign["id"].as_str().unwrap()),
        Some(json!({"notes": "x"})),
    )
    .await;
    assert_eq!(
        refused.status, 403,
        "OwnedBy manages only what its principal owns"
    );
    let grant = as_automation(
        Method::POST,
        "/oauth2PermissionGrants".into(),
        Some(json!({"clientId": own_sp.body["id"], "consentType": "AllPrincipals", "resourceId": graph_id, "scope": "User.Read"})),
    )
    .await;
    assert_eq!(
        grant.status, 403,
        "consent needs DelegatedPermissionGrant.ReadWrite.All"
    );
    let assignment = as_automation(
        Method::POST,
        format!("/servicePrincipals/{graph_id}/appRoleAssignedTo"),
        Some(json!({"principalId": own_sp.body["id"], "resourceId": graph_id, "appRoleId": owned_by})),
    )
    .await;
    assert_eq!(
        assignment.status, 403,
        "assignments need AppRoleAssignment.ReadWrite.All"
    );
}
