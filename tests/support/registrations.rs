//! App registrations made by hand: created in the sandbox through raw Graph requests, never
//! through appreg's client, in the shapes the Entra portal, the Azure CLI and appreg itself leave
//! behind. Import is judged against these, so they must not share a line of code with it.
//!
//! A [`Registration`] is plain data (proptest generates it); [`register`] replays it as the tool
//! it imitates would, and returns what a consumer holds afterwards: the secret texts Graph showed
//! once and the certificates' private keys, so a test can prove later that they still sign in.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use appreg::emulator::RunningSandbox;
use appreg::graph::auth::SigningCertificate;
use proptest::prelude::*;
use proptest::sample::subsequence;
use reqwest::Method;
use serde_json::{Value, json};

use crate::tenant::{GRAPH_APP_ID, Raw};

pub const EXCHANGE_APP_ID: &str = "00000002-0000-0ff1-ce00-000000000000";
/// The role id Entra uses for "Default Access" when an app defines no role for users.
pub const DEFAULT_ACCESS: &str = "00000000-0000-0000-0000-000000000000";
/// Display name of the line-of-business API every sandbox gets from [`Directory::load`].
pub const CUSTOM_API: &str = "Contoso Orders API";
/// The set whose tags an appreg-made registration carries.
pub const OTHER_SET: &str = "legacy";

/// Seeded principals of the sandbox (src/emulator/seed.rs).
pub const USERS: &[&str] = &[
    "adele.vance@contoso.com",
    "alex.wilber@contoso.com",
    "conor.obrien@contoso.com",
    "megan.bowen@contoso.com",
    "mail-sender@contoso.com",
];
pub const GROUPS: &[&str] = &["Odoo mail senders", "All staff", "IT admins"];

pub const GRAPH_DELEGATED: &[&str] = &[
    "User.Read",
    "offline_access",
    "Mail.Send",
    "Calendars.ReadWrite",
    "Contacts.ReadWrite",
    "SMTP.Send",
    "IMAP.AccessAsUser.All",
];
pub const GRAPH_APPLICATION: &[&str] = &["User.Read.All", "Calendars.ReadWrite", "Mail.Send"];
pub const EXCHANGE_APPLICATION: &[&str] = &["full_access_as_app", "SMTP.SendAsApp"];
/// (permission, application?) the custom API publishes.
pub const CUSTOM_PERMISSIONS: &[(&str, bool)] =
    &[("Orders.Read", false), ("Orders.ReadWrite.All", true)];

/// Which tool registered the app; each leaves its own traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Maker {
    /// App and service principal together, the clicking user as owner, the SP tagged
    /// `WindowsAzureActiveDirectoryIntegratedApp`, secrets with a description.
    Portal,
    /// `az ad app create`: no service principal unless `az ad sp create` follows; the caller stays
    /// owner; `az ad app credential reset --append` adds secrets without a display name.
    AzureCli { service_principal: bool },
    /// appreg of another set: uniqueName, appreg's tags on app and SP, v2 tokens, secrets named.
    Appreg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    None,
    /// Some of the requested permissions granted tenant-wide (the first of each list).
    Partial,
    Full,
}

/// One registration, as data.
#[derive(Debug, Clone)]
pub struct Registration {
    pub maker: Maker,
    pub display_name: String,
    pub audience: &'static str,
    pub web: Vec<String>,
    pub spa: Vec<String>,
    pub public_client: Vec<String>,
    /// Delegated scopes the app exposes as an API (under `api://<appId>`).
    pub scopes: Vec<String>,
    /// App roles it defines: (value, assignable to users and groups too).
    pub roles: Vec<(String, bool)>,
    pub graph_delegated: Vec<&'static str>,
    pub graph_application: Vec<&'static str>,
    pub exchange_application: Vec<&'static str>,
    pub custom: Vec<(&'static str, bool)>,
    pub consent: Consent,
    pub users: Vec<&'static str>,
    pub groups: Vec<&'static str>,
    pub owners: Vec<&'static str>,
    pub certificates: usize,
    pub federated: usize,
    /// One entry per password credential: its display name, if any.
    pub secrets: Vec<Option<String>>,
}

impl Registration {
    /// The least a maker registers: a name, the single-tenant audience, nothing else.
    pub fn bare(maker: Maker, display_name: &str) -> Registration {
        Registration {
            maker,
            display_name: display_name.to_string(),
            audience: "AzureADMyOrg",
            web: Vec::new(),
            spa: Vec::new(),
            public_client: Vec::new(),
            scopes: Vec::new(),
            roles: Vec::new(),
            graph_delegated: Vec::new(),
            graph_application: Vec::new(),
            exchange_application: Vec::new(),
            custom: Vec::new(),
            consent: Consent::None,
            users: Vec::new(),
            groups: Vec::new(),
            owners: Vec::new(),
            certificates: 0,
            federated: 0,
            secrets: Vec::new(),
        }
    }

    pub fn has_service_principal(&self) -> bool {
        !matches!(
            self.maker,
            Maker::AzureCli {
                service_principal: false
            }
        )
    }

    fn requests_anything(&self) -> bool {
        !(self.graph_delegated.is_empty()
            && self.graph_application.is_empty()
            && self.exchange_application.is_empty()
            && self.custom.is_empty())
    }
}

/// Ids of the tenant's principals and resources, read once per sandbox; creates the custom API.
pub struct Directory {
    pub graph: Value,
    pub exchange: Value,
    pub custom_api: Value,
    pub users: BTreeMap<&'static str, String>,
    pub groups: BTreeMap<&'static str, String>,
}

impl Directory {
    pub async fn load(raw: &Raw) -> Directory {
        let graph = raw.resource_sp(GRAPH_APP_ID).await;
        let exchange = raw.resource_sp(EXCHANGE_APP_ID).await;
        let mut users = BTreeMap::new();
        for upn in USERS {
            users.insert(*upn, raw.user_id(upn).await);
        }
        let mut groups = BTreeMap::new();
        for name in GROUPS {
            let found = raw
                .list(&format!("/groups?$filter=displayName eq '{name}'"))
                .await;
            let id = found
                .first()
                .and_then(|g| g["id"].as_str())
                .unwrap_or_else(|| panic!("the sandbox seeds group {name}"));
            groups.insert(*name, id.to_string());
        }
        let custom_api = custom_api(raw).await;
        Directory {
            graph,
            exchange,
            custom_api,
            users,
            groups,
        }
    }
}

/// The line-of-business API other apps request permissions on, registered in the portal with a
/// scope and an application role, and its service principal.
async fn custom_api(raw: &Raw) -> Value {
    let existing = raw
        .list(&format!(
            "/servicePrincipals?$filter=displayName eq '{CUSTOM_API}'"
        ))
        .await;
    if let Some(sp) = existing.into_iter().next() {
        return sp;
    }
    let app = raw
        .write(
            Method::POST,
            "/applications",
            Some(json!({"displayName": CUSTOM_API, "signInAudience": "AzureADMyOrg"})),
        )
        .await;
    let (id, app_id) = (app["id"].as_str().unwrap(), app["appId"].as_str().unwrap());
    let scopes: Vec<Value> = CUSTOM_PERMISSIONS
        .iter()
        .filter(|(_, application)| !application)
        .map(|(name, _)| scope_body(name))
        .collect();
    let roles: Vec<Value> = CUSTOM_PERMISSIONS
        .iter()
        .filter(|(_, application)| *application)
        .map(|(name, _)| role_body(name, false))
        .collect();
    raw.write(
        Method::PATCH,
        &format!("/applications/{id}"),
        Some(json!({
            "identifierUris": [format!("api://{app_id}")],
            "api": {"oauth2PermissionScopes": scopes},
            "appRoles": roles,
        })),
    )
    .await;
    raw.write(
        Method::POST,
        "/servicePrincipals",
        Some(json!({"appId": app_id})),
    )
    .await
}

fn scope_body(value: &str) -> Value {
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "value": value,
        "type": "User",
        "isEnabled": true,
        "adminConsentDisplayName": format!("Use {value}"),
        "adminConsentDescription": format!("Lets the app use {value} for the signed-in user."),
        "userConsentDisplayName": format!("Use {value}"),
        "userConsentDescription": format!("Lets the app use {value} for you."),
    })
}

fn role_body(value: &str, users_too: bool) -> Value {
    let members = if users_too {
        json!(["User", "Application"])
    } else {
        json!(["Application"])
    };
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "value": value,
        "displayName": value,
        "description": format!("Holders may {value}."),
        "allowedMemberTypes": members,
        "isEnabled": true,
    })
}

/// Id of a permission `resource` publishes (`appRoles` for application, else scopes).
pub fn permission_id(resource: &Value, name: &str, application: bool) -> String {
    let list = if application {
        "appRoles"
    } else {
        "oauth2PermissionScopes"
    };
    resource[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["value"] == name)
        .unwrap_or_else(|| panic!("{name} is published by {}", resource["displayName"]))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A password credential as Graph returned it once: the consumer's copy.
#[derive(Debug, Clone)]
pub struct IssuedSecret {
    pub key_id: String,
    pub display_name: Option<String>,
    pub text: String,
}

/// A certificate registered on the app, with the private key the consumer keeps.
pub struct IssuedCertificate {
    pub key_id: Option<String>,
    pub signer: SigningCertificate,
    /// The certificate alone (DER), as uploaded.
    pub der: Vec<u8>,
}

/// What exists after [`register`].
pub struct Registered {
    pub display_name: String,
    pub object_id: String,
    pub app_id: String,
    pub sp_id: Option<String>,
    pub secrets: Vec<IssuedSecret>,
    pub certificates: Vec<IssuedCertificate>,
}

/// A self-signed RSA certificate and its key, as `openssl req -x509 -newkey rsa:2048` makes one.
pub fn new_certificate(common_name: &str) -> (SigningCertificate, Vec<u8>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("an RSA key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(365);
    let cert = params.self_signed(&key).expect("a self-signed certificate");
    let pem = format!("{}{}", cert.pem(), key.serialize_pem());
    let signer = SigningCertificate::from_pem(pem.as_bytes()).expect("the PEM loads");
    (signer, cert.der().to_vec())
}

/// A PATCH with `Prefer: create-if-missing` (appreg's upsert by uniqueName).
async fn upsert(raw: &Raw, path: &str, body: Value) -> (u16, Value) {
    let url = format!("{}{path}", raw.graph);
    loop {
        let answer = crate::raw::send(
            &raw.http,
            Some(&raw.token),
            Method::PATCH,
            &url,
            Some(&body),
            &[("Prefer", "create-if-missing")],
        )
        .await;
        let status = answer.status.as_u16();
        if status == 429 || status == 503 {
            tokio::time::sleep(Duration::from_millis(60)).await;
            continue;
        }
        return (status, answer.body);
    }
}

fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// Registers `registration` through raw Graph requests, the way its maker does.
pub async fn register(raw: &Raw, dir: &Directory, registration: &Registration) -> Registered {
    let r = registration;
    let mut required: Vec<Value> = Vec::new();
    let access = |resource: &Value, names: &[(&str, bool)]| -> Vec<Value> {
        names
            .iter()
            .map(|(name, application)| {
                json!({
                    "id": permission_id(resource, name, *application),
                    "type": if *application { "Role" } else { "Scope" },
                })
            })
            .collect()
    };
    let mut graph_names: Vec<(&str, bool)> =
        r.graph_delegated.iter().map(|n| (*n, false)).collect();
    graph_names.extend(r.graph_application.iter().map(|n| (*n, true)));
    let exchange_names: Vec<(&str, bool)> =
        r.exchange_application.iter().map(|n| (*n, true)).collect();
    for (resource, names) in [
        (&dir.graph, graph_names.clone()),
        (&dir.exchange, exchange_names.clone()),
        (&dir.custom_api, r.custom.clone()),
    ] {
        if !names.is_empty() {
            required.push(json!({
                "resourceAppId": resource["appId"],
                "resourceAccess": access(resource, &names),
            }));
        }
    }
    let mut body = json!({
        "displayName": r.display_name,
        "signInAudience": r.audience,
        "requiredResourceAccess": required,
    });
    if !r.web.is_empty() {
        body["web"] = json!({"redirectUris": r.web});
    }
    if !r.spa.is_empty() {
        body["spa"] = json!({"redirectUris": r.spa});
    }
    if !r.public_client.is_empty() {
        body["publicClient"] = json!({"redirectUris": r.public_client});
    }
    if r.audience == "AzureADandPersonalMicrosoftAccount" || r.maker == Maker::Appreg {
        body["api"] = json!({"requestedAccessTokenVersion": 2});
    }
    let app = match r.maker {
        Maker::Appreg => {
            let unique_name = slug(&r.display_name);
            body["tags"] = json!(["appreg:managed", format!("appreg:set={OTHER_SET}")]);
            body["web"]["implicitGrantSettings"] =
                json!({"enableAccessTokenIssuance": false, "enableIdTokenIssuance": false});
            body["isFallbackPublicClient"] = json!(false);
            let path = format!("/applications(uniqueName='{unique_name}')");
            let (status, answer) = upsert(raw, &path, body).await;
            assert!(
                (200..300).contains(&status),
                "upsert {path} -> {status}: {answer}"
            );
            if answer.is_null() {
                raw.get(&path).await
            } else {
                answer
            }
        }
        _ => raw.write(Method::POST, "/applications", Some(body)).await,
    };
    let object_id = app["id"].as_str().unwrap().to_string();
    let app_id = app["appId"].as_str().unwrap().to_string();
    let app_path = format!("/applications/{object_id}");

    // Exposing an API and defining roles are later steps on the portal's "Expose an API" and
    // "App roles" blades, each its own PATCH.
    if !r.scopes.is_empty() {
        let scopes: Vec<Value> = r.scopes.iter().map(|s| scope_body(s)).collect();
        raw.write(
            Method::PATCH,
            &app_path,
            Some(json!({
                "identifierUris": [format!("api://{app_id}")],
                "api": {"oauth2PermissionScopes": scopes},
            })),
        )
        .await;
    }
    let roles: Vec<Value> = r
        .roles
        .iter()
        .map(|(v, users)| role_body(v, *users))
        .collect();
    if !roles.is_empty() {
        raw.write(Method::PATCH, &app_path, Some(json!({"appRoles": roles})))
            .await;
    }

    // Owners: the portal and appreg leave the people named; the Azure CLI keeps its caller too.
    let keep_caller = matches!(r.maker, Maker::AzureCli { .. }) && r.owners.is_empty();
    if !keep_caller {
        for owner in raw.list(&format!("{app_path}/owners")).await {
            let owner = owner["id"].as_str().unwrap();
            raw.write(
                Method::DELETE,
                &format!("{app_path}/owners/{owner}/$ref"),
                None,
            )
            .await;
        }
    }
    for upn in &r.owners {
        let id = &dir.users[upn];
        raw.write(
            Method::POST,
            &format!("{app_path}/owners/$ref"),
            Some(json!({"@odata.id": format!("{}/directoryObjects/{id}", raw.graph)})),
        )
        .await;
    }

    let mut certificates = Vec::new();
    if r.certificates > 0 {
        let mut keys = Vec::new();
        for n in 0..r.certificates {
            let (signer, der) = new_certificate(&format!("{} {n}", slug(&r.display_name)));
            keys.push(json!({
                "type": "AsymmetricX509Cert",
                "usage": "Verify",
                "key": base64_std(&der),
                "displayName": format!("CN={} {n}", slug(&r.display_name)),
            }));
            certificates.push(IssuedCertificate {
                key_id: None,
                signer,
                der,
            });
        }
        raw.write(
            Method::PATCH,
            &app_path,
            Some(json!({"keyCredentials": keys})),
        )
        .await;
        let live = raw.get(&format!("{app_path}?$select=keyCredentials")).await;
        for (issued, key) in certificates
            .iter_mut()
            .zip(live["keyCredentials"].as_array().unwrap())
        {
            issued.key_id = key["keyId"].as_str().map(str::to_string);
        }
    }

    for n in 0..r.federated {
        raw.write(
            Method::POST,
            &format!("{app_path}/federatedIdentityCredentials"),
            Some(json!({
                "name": format!("github-{n}"),
                "issuer": "https://token.actions.githubusercontent.com",
                "subject": format!("repo:contoso/{}:environment:env{n}", slug(&r.display_name)),
                "audiences": ["api://AzureADTokenExchange"],
            })),
        )
        .await;
    }

    let two_years = (chrono::Utc::now() + chrono::Duration::days(730)).to_rfc3339();
    let mut secrets = Vec::new();
    for name in &r.secrets {
        let mut credential = json!({"endDateTime": two_years});
        if let Some(name) = name {
            credential["displayName"] = json!(name);
        }
        let added = raw
            .write(
                Method::POST,
                &format!("{app_path}/addPassword"),
                Some(json!({"passwordCredential": credential})),
            )
            .await;
        secrets.push(IssuedSecret {
            key_id: added["keyId"].as_str().unwrap().to_string(),
            display_name: name.clone(),
            text: added["secretText"]
                .as_str()
                .expect("addPassword shows the secret once")
                .to_string(),
        });
    }

    let sp_id = if r.has_service_principal() {
        let mut body = json!({"appId": app_id});
        match r.maker {
            Maker::Portal => body["tags"] = json!(["WindowsAzureActiveDirectoryIntegratedApp"]),
            Maker::Appreg => {
                body["tags"] = json!(["appreg:managed", format!("appreg:set={OTHER_SET}")])
            }
            Maker::AzureCli { .. } => {}
        }
        if !r.users.is_empty() || !r.groups.is_empty() {
            body["appRoleAssignmentRequired"] = json!(true);
        }
        let sp = raw
            .write(Method::POST, "/servicePrincipals", Some(body))
            .await;
        Some(sp["id"].as_str().unwrap().to_string())
    } else {
        None
    };

    if let Some(sp_id) = &sp_id {
        grant(raw, dir, r, sp_id, &graph_names, &exchange_names).await;
        // Users and groups get the first role open to them, else Default Access.
        let live_roles = raw.get(&app_path).await["appRoles"].clone();
        let role_for_people = live_roles
            .as_array()
            .unwrap()
            .iter()
            .find(|role| {
                role["allowedMemberTypes"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|t| t == "User"))
            })
            .and_then(|role| role["id"].as_str())
            .unwrap_or(DEFAULT_ACCESS)
            .to_string();
        let principals = r
            .users
            .iter()
            .map(|u| &dir.users[u])
            .chain(r.groups.iter().map(|g| &dir.groups[g]));
        for principal in principals {
            raw.write(
                Method::POST,
                &format!("/servicePrincipals/{sp_id}/appRoleAssignedTo"),
                Some(json!({"principalId": principal, "resourceId": sp_id, "appRoleId": role_for_people})),
            )
            .await;
        }
    }

    Registered {
        display_name: r.display_name.clone(),
        object_id,
        app_id,
        sp_id,
        secrets,
        certificates,
    }
}

/// Tenant-wide consent as the portal's "Grant admin consent" button gives it: one delegated
/// grant per resource, one app role assignment per application permission.
async fn grant(
    raw: &Raw,
    dir: &Directory,
    r: &Registration,
    sp_id: &str,
    graph_names: &[(&str, bool)],
    exchange_names: &[(&str, bool)],
) {
    let pick = |names: &[(&'static str, bool)], application: bool| -> Vec<&'static str> {
        let all: Vec<&str> = names
            .iter()
            .filter(|(_, a)| *a == application)
            .map(|(n, _)| *n)
            .collect();
        match r.consent {
            Consent::None => Vec::new(),
            Consent::Partial => all.into_iter().take(1).collect(),
            Consent::Full => all,
        }
    };
    let graph_names: Vec<(&'static str, bool)> = graph_names
        .iter()
        .map(|(n, a)| (static_name(n), *a))
        .collect();
    let exchange_names: Vec<(&'static str, bool)> = exchange_names
        .iter()
        .map(|(n, a)| (static_name(n), *a))
        .collect();
    for (resource, names) in [
        (&dir.graph, graph_names),
        (&dir.exchange, exchange_names),
        (&dir.custom_api, r.custom.clone()),
    ] {
        let resource_id = resource["id"].as_str().unwrap();
        let delegated = pick(&names, false);
        if !delegated.is_empty() {
            raw.write(
                Method::POST,
                "/oauth2PermissionGrants",
                Some(json!({"clientId": sp_id, "consentType": "AllPrincipals", "resourceId": resource_id, "scope": delegated.join(" ")})),
            )
            .await;
        }
        for role in pick(&names, true) {
            raw.write(
                Method::POST,
                &format!("/servicePrincipals/{resource_id}/appRoleAssignedTo"),
                Some(json!({"principalId": sp_id, "resourceId": resource_id, "appRoleId": permission_id(resource, role, true)})),
            )
            .await;
        }
    }
}

/// The `'static` copy of a permission name from the lists above.
fn static_name(name: &str) -> &'static str {
    GRAPH_DELEGATED
        .iter()
        .chain(GRAPH_APPLICATION)
        .chain(EXCHANGE_APPLICATION)
        .chain(CUSTOM_PERMISSIONS.iter().map(|(n, _)| n))
        .find(|n| **n == name)
        .copied()
        .unwrap_or_else(|| panic!("{name} is not a generated permission"))
}

fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

// ---------------------------------------------------------------------------------------------
// Does a credential still sign in?
// ---------------------------------------------------------------------------------------------

/// Client credentials for Microsoft Graph at the sandbox's token endpoint; Ok(()) or the
/// status and error code.
async fn token(sb: &RunningSandbox, form: &[(&str, &str)]) -> Result<(), String> {
    let http = reqwest::Client::new();
    let request = crate::raw::form(http.post(sb.token_url()), form);
    let answer = crate::raw::into_answer(request.send().await.unwrap()).await;
    if answer.status == 200 && answer.body["access_token"].is_string() {
        Ok(())
    } else {
        Err(format!(
            "{} {}",
            answer.status,
            answer.body["error_codes"]
                .as_array()
                .and_then(|c| c.first())
                .cloned()
                .unwrap_or(answer.body["error"].clone())
        ))
    }
}

/// Whether `secret` gets `app_id` a Graph token, as the integration holding it would ask.
pub async fn secret_signs_in(
    sb: &RunningSandbox,
    app_id: &str,
    secret: &str,
) -> Result<(), String> {
    token(
        sb,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", app_id),
            ("client_secret", secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await
}

/// Whether a client assertion signed with `certificate` gets `app_id` a Graph token.
pub async fn certificate_signs_in(
    sb: &RunningSandbox,
    app_id: &str,
    certificate: &SigningCertificate,
) -> Result<(), String> {
    let assertion = certificate
        .assertion(app_id, &sb.token_url(), false)
        .expect("the assertion is signed");
    token(
        sb,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", app_id),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.expose()),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await
}

/// Every credential of `registered` that signs in now, by (kind, keyId).
pub async fn working_credentials(sb: &RunningSandbox, registered: &Registered) -> Vec<String> {
    let mut working = Vec::new();
    for secret in &registered.secrets {
        if secret_signs_in(sb, &registered.app_id, &secret.text)
            .await
            .is_ok()
        {
            working.push(format!("secret {}", secret.key_id));
        }
    }
    for certificate in &registered.certificates {
        if certificate_signs_in(sb, &registered.app_id, &certificate.signer)
            .await
            .is_ok()
        {
            working.push(format!(
                "certificate {}",
                certificate.key_id.as_deref().unwrap_or("?")
            ));
        }
    }
    working
}

// ---------------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------------

const NAMES: &[&str] = &[
    "CRM calendar sync",
    "ERP contacts sync",
    "Odoo",
    "Payroll export",
    "Intranet \"Portal\"",
    "Backup: nightly #2",
];
const HOSTS: &[&str] = &[
    "crm.example.com",
    "erp.contoso.com",
    "odoo.example.com",
    "intranet.contoso.com",
];

fn maker() -> impl Strategy<Value = Maker> {
    prop_oneof![
        3 => Just(Maker::Portal),
        2 => any::<bool>().prop_map(|service_principal| Maker::AzureCli { service_principal }),
        1 => Just(Maker::Appreg),
    ]
}

fn redirects(kind: &'static str) -> impl Strategy<Value = Vec<String>> {
    subsequence(HOSTS.to_vec(), 0..=2).prop_map(move |hosts| {
        hosts
            .into_iter()
            .map(|h| match kind {
                "spa" => format!("https://{h}/spa"),
                "public" if h.starts_with("crm") => {
                    "https://login.microsoftonline.com/common/oauth2/nativeclient".to_string()
                }
                "public" => format!("ms-appx-web://{h}/auth"),
                _ => format!("https://{h}/signin-oidc"),
            })
            .collect()
    })
}

/// Registrations of every maker and shape, the `index`th of a tenant (display names unique).
pub fn registration(index: usize) -> impl Strategy<Value = Registration> {
    let identity = (
        maker(),
        0..NAMES.len(),
        prop_oneof![
            Just("AzureADMyOrg"),
            Just("AzureADMultipleOrgs"),
            Just("AzureADandPersonalMicrosoftAccount"),
        ],
    );
    let platforms = (redirects("web"), redirects("spa"), redirects("public"));
    let api = (
        subsequence(vec!["Orders.Submit", "Reports.Read"], 0..=2),
        subsequence(vec![("Reader", true), ("Writer", false)], 0..=2),
    );
    let permissions = (
        subsequence(GRAPH_DELEGATED.to_vec(), 0..=3),
        subsequence(GRAPH_APPLICATION.to_vec(), 0..=2),
        subsequence(EXCHANGE_APPLICATION.to_vec(), 0..=1),
        subsequence(CUSTOM_PERMISSIONS.to_vec(), 0..=2),
        prop_oneof![
            Just(Consent::None),
            Just(Consent::Partial),
            Just(Consent::Full)
        ],
    );
    let people = (
        subsequence(USERS.to_vec(), 0..=2),
        subsequence(GROUPS.to_vec(), 0..=1),
        subsequence(USERS.to_vec(), 0..=2),
    );
    let credentials = (
        0..=1usize,
        0..=2usize,
        proptest::collection::vec(proptest::option::of(Just("vendor")), 0..=2),
    );
    (identity, platforms, api, permissions, people, credentials).prop_map(
        move |(
            (maker, name, audience),
            (web, spa, public_client),
            (scopes, roles),
            (graph_delegated, graph_application, exchange_application, custom, consent),
            (users, groups, owners),
            (certificates, federated, secrets),
        )| {
            // Personal accounts allow neither app roles nor more than two secrets (Graph refuses).
            let personal = audience == "AzureADandPersonalMicrosoftAccount";
            let secrets = secrets
                .into_iter()
                .enumerate()
                .map(|(n, name)| name.map(|v| format!("{v} {n}")))
                .collect();
            Registration {
                maker,
                display_name: format!("{} {index}", NAMES[name]),
                audience,
                web,
                spa,
                public_client,
                scopes: scopes.into_iter().map(str::to_string).collect(),
                roles: if personal {
                    Vec::new()
                } else {
                    roles.into_iter().map(|(v, u)| (v.to_string(), u)).collect()
                },
                graph_delegated,
                graph_application,
                exchange_application,
                custom,
                consent,
                users,
                groups,
                owners,
                certificates,
                federated,
                secrets,
            }
        },
    )
}

/// A tenant's worth of registrations: 1 to `max` apps.
pub fn registrations(max: usize) -> impl Strategy<Value = Vec<Registration>> {
    (1..=max).prop_flat_map(|n| (0..n).map(registration).collect::<Vec<_>>())
}

// ---------------------------------------------------------------------------------------------
// The three example integrations, registered the way their portal guides say
// ---------------------------------------------------------------------------------------------

/// examples/crm-calendar-sync.yaml, examples/erp-contacts-sync.yaml and
/// examples/odoo-outlook-mail.yaml as a person following each vendor's guide in the portal
/// leaves them: the app, its platform and permissions, admin consent where the guide says to
/// click it, one client secret with a description where the integration needs one.
pub fn example_integrations() -> [Registration; 3] {
    let base = Registration {
        owners: vec!["adele.vance@contoso.com"],
        ..Registration::bare(Maker::Portal, "")
    };
    [
        Registration {
            display_name: "CRM calendar sync".into(),
            web: vec!["https://crm.example.com/modules/Office365Sync/authentication.php".into()],
            graph_delegated: vec!["User.Read"],
            graph_application: vec!["Calendars.ReadWrite"],
            consent: Consent::Full,
            secrets: vec![Some("vendor-handoff".into())],
            ..base.clone()
        },
        Registration {
            display_name: "ERP contacts sync".into(),
            public_client: vec![
                "https://login.microsoftonline.com/common/oauth2/nativeclient".into(),
            ],
            graph_delegated: vec![
                "User.Read",
                "Contacts.ReadWrite",
                "Calendars.ReadWrite",
                "offline_access",
            ],
            federated: 1,
            ..base.clone()
        },
        Registration {
            display_name: "Odoo".into(),
            audience: "AzureADandPersonalMicrosoftAccount",
            web: vec!["https://odoo.example.com/microsoft_outlook/confirm".into()],
            graph_delegated: vec![
                "User.Read",
                "SMTP.Send",
                "IMAP.AccessAsUser.All",
                "offline_access",
            ],
            consent: Consent::Full,
            users: vec!["mail-sender@contoso.com"],
            groups: vec!["Odoo mail senders"],
            secrets: vec![Some("odoo-fetchmail".into())],
            ..base
        },
    ]
}
