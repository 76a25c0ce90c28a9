//! Tenant-wide delegated consent: one AllPrincipals oauth2PermissionGrant per resource, with the
//! exact scope string of the consented delegated permissions (every requested one with
//! `adminConsent: true`, those listed when `adminConsent` lists them); without consent, AllPrincipals grants of a managed app are removed (consent a user gave for
//! themselves, consentType Principal, is theirs and never touched). Idempotency: a grant for the
//! same client and resource is updated in place, never duplicated.

use serde_json::json;

use super::{AppContext, Instance};
use crate::engine::fields::{self, Fields};
use crate::engine::observed::str_of;
use crate::engine::plan::ResourceType;

use super::{Phase, Requires, ResourceKind, Write, WriteError};
use crate::engine::application::NamedResource;
use crate::graph::Request;
use crate::model::RequestedPermissions;

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
    ctx.app
        .admin_consent
        .granted(&ctx.app.permissions)
        .into_iter()
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

pub struct Grants;

impl ResourceKind for Grants {
    fn resource(&self) -> ResourceType {
        ResourceType::DelegatedGrant
    }

    fn phase(&self) -> Phase {
        Phase::SubObject
    }

    fn requires(&self) -> Requires {
        Requires::ServicePrincipal
    }

    fn desired(&self, ctx: &AppContext) -> Vec<Instance> {
        desired(ctx)
    }

    fn live(&self, ctx: &AppContext) -> Vec<Instance> {
        live(ctx)
    }

    /// A POST whose outcome is unknown is not repeated; the next run observes the grant and
    /// updates it instead.
    fn create(&self, ctx: &AppContext, write: &Write) -> Result<Request, WriteError> {
        let (resource, requested) = resource_of(ctx, write)?;
        let scope = scope_string(&requested.delegated);
        Ok(write.fresh(Request::post(
            "/oauth2PermissionGrants",
            create_body(&write.sp_id()?, &resource.api.sp_id, &scope),
        )))
    }

    fn update(&self, ctx: &AppContext, write: &Write) -> Result<Request, WriteError> {
        let (_, requested) = resource_of(ctx, write)?;
        Ok(Request::patch(
            format!("/oauth2PermissionGrants/{}", write.live_id()?),
            json!({ "scope": scope_string(&requested.delegated) }),
        ))
    }

    fn delete(&self, _: &AppContext, write: &Write) -> Result<Request, WriteError> {
        Ok(Request::delete(format!(
            "/oauth2PermissionGrants/{}",
            write.live_id()?
        )))
    }
}

/// The resource a grant's address names, and what consent grants of it.
fn resource_of<'a>(
    ctx: &'a AppContext,
    write: &Write,
) -> Result<(&'a NamedResource<'a>, RequestedPermissions), WriteError> {
    let desired = write.desired()?;
    let written = desired
        .address
        .strip_prefix(&ctx.address("grant."))
        .ok_or(WriteError::Address("grant"))?;
    let resource = ctx
        .resources
        .iter()
        .find(|r| r.written == written)
        .ok_or(WriteError::NotInTenant("resource"))?;
    let granted = ctx
        .app
        .admin_consent
        .granted(&ctx.app.permissions)
        .remove(written)
        .ok_or(WriteError::NotDeclared("resource"))?
        .into_owned();
    Ok((resource, granted))
}
