//! A fresh sandbox tenant: first-party resource service principals with their permissions (from
//! the shared offline catalogue, descriptions written here), a few
//! users and groups, and the sandbox's admin application. Ids derive from the seed, so two
//! sandboxes with the same seed have the same directory (the admin secret and token key are random).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngExt;
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::GRAPH_APP_ID;
use super::ids::{self, IdGen};
use super::routes::secret_hash;
use super::store::{AdminApp, Kind, Link, Record, Store};
use super::wire;
use crate::catalogue::{self, PermissionKind, Resource};

/// Tenant of Microsoft's first-party applications (appOwnerOrganizationId of their principals).
const MICROSOFT_TENANT: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";
/// Initial domain of the sandbox tenant.
pub const DOMAIN: &str = "contoso.onmicrosoft.com";
/// Verified custom domain the seeded users sign in with.
pub const USER_DOMAIN: &str = "contoso.com";

/// Graph application permissions the admin app holds, so it can do everything the sandbox serves.
const ADMIN_ROLES: &[&str] = &[
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "Directory.Read.All",
    "Group.Read.All",
    "Policy.Read.All",
    "User.Read.All",
];

fn app_roles(resource: &Resource) -> Value {
    resource
        .permissions()
        .filter(|p| p.kind == PermissionKind::Application)
        .map(|p| {
            json!({
                "allowedMemberTypes": ["Application"],
                "description": format!("Lets an application use {} of {} without a signed-in user.", p.name, resource.name),
                "displayName": p.name,
                "id": p.id.to_string(),
                "isEnabled": true,
                "origin": "Application",
                "value": p.name,
            })
        })
        .collect()
}

fn scopes(resource: &Resource) -> Value {
    resource
        .permissions()
        .filter(|p| p.kind == PermissionKind::Delegated)
        .map(|p| {
            let text = format!(
                "Lets an application use {} of {} for the signed-in user.",
                p.name, resource.name
            );
            json!({
                "adminConsentDescription": text,
                "adminConsentDisplayName": p.name,
                "id": p.id.to_string(),
                "isEnabled": true,
                "origin": "Application",
                "type": if p.admin_consent_required { "Admin" } else { "User" },
                "userConsentDescription": text,
                "userConsentDisplayName": p.name,
                "value": p.name,
            })
        })
        .collect()
}

fn random_secret() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.~";
    let mut rng = rand::rng();
    (0..40)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Builds a fresh tenant from `seed`.
pub fn tenant(seed: u64, now_ms: i64) -> Store {
    let mut ids = IdGen::new(seed);
    let tenant_id = ids::derive(&[b"tenant", &seed.to_le_bytes()]);
    let policy_id = ids::derive(&[b"app-management-policy", &seed.to_le_bytes()]);
    let admin = AdminApp {
        object_id: ids.next_id(),
        app_id: ids.next_id(),
        service_principal_id: ids.next_id(),
        client_secret: random_secret(),
    };
    let mut store = Store::new(tenant_id, DOMAIN.to_string(), ids, admin.clone(), policy_id);
    // The seeded users sign in as @contoso.com, so the tenant has verified it.
    store.verify_domain(USER_DOMAIN);
    // Without a key here, the sandbox makes one when it starts (and saves it with the tenant).
    if let Some(pkcs8) = super::keys::seed_key() {
        store.token_key = STANDARD.encode(pkcs8);
    }

    for resource in catalogue::well_known() {
        let id = store.new_id();
        let owner = Uuid::parse_str(MICROSOFT_TENANT).unwrap_or_default();
        let mut body = wire::service_principal(id, &resource.app_id.to_string(), owner, None);
        body.insert("displayName".into(), json!(resource.name));
        body.insert("appDisplayName".into(), json!(resource.name));
        body.insert("signInAudience".into(), json!("AzureADMultipleOrgs"));
        body.insert("appRoles".into(), app_roles(resource));
        body.insert("oauth2PermissionScopes".into(), scopes(resource));
        store.insert(Record::new(Kind::ServicePrincipal, body, 0));
    }

    let admin_name = "appreg sandbox admin";
    let mut app = wire::application(admin.object_id, admin.app_id, DOMAIN, None, now_ms);
    app.insert("displayName".into(), json!(admin_name));
    app.insert("uniqueName".into(), json!("appreg-sandbox-admin"));
    let key_id = store.new_id();
    let end = now_ms + 2 * 365 * 24 * 3600 * 1000;
    let hint: String = admin.client_secret.chars().take(3).collect();
    let credential = wire::password_credential(
        key_id,
        Some("sandbox admin"),
        &hint,
        &wire::timestamp(now_ms),
        &wire::timestamp(end),
    );
    app.insert("passwordCredentials".into(), json!([credential]));
    let mut record = Record::new(Kind::Application, app, 0);
    record
        .secret_hashes
        .insert(key_id.to_string(), secret_hash(&admin.client_secret));
    store.insert(record);
    let mut sp = wire::service_principal(
        admin.service_principal_id,
        &admin.app_id.to_string(),
        tenant_id,
        None,
    );
    sp.insert("displayName".into(), json!(admin_name));
    sp.insert("appDisplayName".into(), json!(admin_name));
    store.insert(Record::new(Kind::ServicePrincipal, sp, 0));
    if let Some(record) = store.get_mut(Kind::Application, admin.object_id) {
        record.owners.push(admin.service_principal_id);
    }

    let graph = store.sp_by_app_id(GRAPH_APP_ID).unwrap_or_default();
    let roles = store.objects()[&graph]
        .body
        .get("appRoles")
        .cloned()
        .unwrap_or_default();
    for name in ADMIN_ROLES {
        let Some(role) = roles
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r.get("value").and_then(Value::as_str) == Some(name))
        else {
            continue;
        };
        let role_id = Uuid::parse_str(role["id"].as_str().unwrap_or_default()).unwrap_or_default();
        let id = ids::assignment_id(admin.service_principal_id, graph, role_id);
        let body = json!({
            "id": id,
            "deletedDateTime": null,
            "appRoleId": role_id.to_string(),
            "createdDateTime": wire::timestamp(now_ms),
            "principalDisplayName": admin_name,
            "principalId": admin.service_principal_id.to_string(),
            "principalType": "ServicePrincipal",
            "resourceDisplayName": "Microsoft Graph",
            "resourceId": graph.to_string(),
        });
        store.insert_assignment(
            id,
            Link {
                body: body.as_object().cloned().unwrap_or_default(),
                created_ms: 0,
            },
        );
    }

    for (display, given, surname, login) in [
        ("Adele Vance", "Adele", "Vance", "adele.vance"),
        ("Alex Wilber", "Alex", "Wilber", "alex.wilber"),
        ("Conor O'Brien", "Conor", "O'Brien", "conor.obrien"),
        ("Megan Bowen", "Megan", "Bowen", "megan.bowen"),
        ("Mail Sender", "Mail", "Sender", "mail-sender"),
    ] {
        let id = store.new_id();
        let body = wire::user(
            id,
            display,
            given,
            surname,
            &format!("{login}@{USER_DOMAIN}"),
            now_ms,
        );
        store.insert(Record::new(Kind::User, body, 0));
    }
    for (display, nickname, description) in [
        (
            "Odoo mail senders",
            "odoo-mail-senders",
            "Users allowed to send mail through Odoo",
        ),
        ("All staff", "all-staff", "Everyone in the sandbox tenant"),
        (
            "IT admins",
            "it-admins",
            "Administrators of the sandbox tenant",
        ),
    ] {
        let id = store.new_id();
        store.insert(Record::new(
            Kind::Group,
            wire::group(id, display, nickname, description, now_ms),
            0,
        ));
    }
    store.settle();
    store
}
