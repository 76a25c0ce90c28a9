//! Tenant-wide delegated consent: one AllPrincipals oauth2PermissionGrant per resource, with the
//! exact scope string of the manifest's delegated permissions. Only with `adminConsent: true`;
//! without it, AllPrincipals grants of a managed app are removed (consent a user gave for
//! themselves, consentType Principal, is theirs and never touched). Idempotency: a grant for the
//! same client and resource is updated in place, never duplicated.

use serde_json::json;

use super::{AppContext, Instance};
use crate::engine::fields::{self, Fields};
use crate::engine::observed::str_of;
use crate::engine::plan::ResourceType;

fn address(ctx: &AppContext, resource: &str) -> String {
    ctx.address(&format!("grant.{resource}"))
}

fn fields(scopes: &[&str]) -> Fields {
    Fields::from([(
        "scope".to_string(),
        fields::string_set(scopes.iter().copied()),
    )])
}

pub fn desired(ctx: &AppContext) -> Vec<Instance> {
    if !ctx.app.admin_consent {
        return Vec::new();
    }
    ctx.app
        .permissions
        .iter()
        .filter(|(_, p)| !p.delegated.is_empty())
        .map(|(resource, p)| {
            let scopes: Vec<&str> = p.delegated.iter().map(String::as_str).collect();
            Instance::new(
                address(ctx, resource),
                ResourceType::DelegatedGrant,
                fields(&scopes),
            )
        })
        .collect()
}

pub fn live(ctx: &AppContext) -> Vec<Instance> {
    ctx.live
        .grants
        .iter()
        .filter(|g| str_of(g, "consentType") == Some("AllPrincipals"))
        .map(|g| {
            let resource = ctx.resource_label(str_of(g, "resourceId").unwrap_or_default());
            let scopes: Vec<&str> = str_of(g, "scope")
                .unwrap_or_default()
                .split_whitespace()
                .collect();
            Instance::new(
                address(ctx, &resource),
                ResourceType::DelegatedGrant,
                fields(&scopes),
            )
            .observed(g)
        })
        .collect()
}

/// The scope string Graph stores: names separated by single spaces, sorted for stable diffs.
pub fn scope_string(scopes: &std::collections::BTreeSet<String>) -> String {
    scopes
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The body of a new AllPrincipals grant.
pub fn create_body(client_sp_id: &str, resource_sp_id: &str, scope: &str) -> serde_json::Value {
    json!({
        "clientId": client_sp_id,
        "consentType": "AllPrincipals",
        "principalId": null,
        "resourceId": resource_sp_id,
        "scope": scope,
    })
}
