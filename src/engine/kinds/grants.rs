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

fn address(ctx: &AppContext, resource: &str) -> super::Address {
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

    /// Tenant-wide delegated grants, as consent: everything requested becomes
    /// `adminConsent: true` (by `inverse_consent`, after the application permissions).
    fn inverse(
        &self,
        from: &super::Adopted,
        app: &mut crate::model::DesiredApp,
        out: &mut super::Inverse,
    ) {
        let mut granted = consented(app);
        for grant in from
            .live
            .grants
            .iter()
            .filter(|g| str_of(g, "consentType") == Some("AllPrincipals"))
        {
            let resource_id = str_of(grant, "resourceId").unwrap_or_default();
            let Some((written, _)) = from.resource_by_sp(resource_id) else {
                out.unrepresented.push(format!(
                    "a tenant-wide grant to resource {resource_id}, whose service principal could not be read; the first apply removes it"
                ));
                continue;
            };
            let scopes = str_of(grant, "scope")
                .unwrap_or_default()
                .split_whitespace();
            let requested = app.permissions.get(written).cloned().unwrap_or_default();
            let entry = granted.entry(written.clone()).or_default();
            for scope in scopes {
                if requested.delegated.contains(scope) {
                    entry.delegated.insert(scope.to_string());
                } else {
                    out.unrepresented.push(format!(
                        "the tenant-wide grant to {written} includes `{scope}`, which the app does not request; the first apply takes it out of the grant"
                    ));
                }
            }
        }
        app.admin_consent = crate::model::AdminConsent::Granted(granted);
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
        .within()
        .and_then(|w| w.strip_prefix("grant."))
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

/// What `app.admin_consent` grants so far, as an explicit list.
pub fn consented(
    app: &crate::model::DesiredApp,
) -> std::collections::BTreeMap<String, RequestedPermissions> {
    app.admin_consent
        .granted(&app.permissions)
        .into_iter()
        .map(|(r, p)| (r.to_string(), p.into_owned()))
        .collect()
}

/// Consent as a person writes it: `true` when it covers every requested permission exactly,
/// nothing when it covers none, otherwise the list of what is granted.
pub fn simplify_consent(app: &mut crate::model::DesiredApp) {
    use crate::model::AdminConsent;
    let AdminConsent::Granted(granted) = &app.admin_consent else {
        return;
    };
    let granted: std::collections::BTreeMap<String, RequestedPermissions> = granted
        .iter()
        .filter(|(_, p)| !p.delegated.is_empty() || !p.application.is_empty())
        .map(|(r, p)| (r.clone(), p.clone()))
        .collect();
    let requested: std::collections::BTreeMap<String, RequestedPermissions> = app
        .permissions
        .iter()
        .filter(|(_, p)| !p.delegated.is_empty() || !p.application.is_empty())
        .map(|(r, p)| (r.clone(), p.clone()))
        .collect();
    app.admin_consent = if granted.is_empty() {
        AdminConsent::None
    } else if granted == requested {
        AdminConsent::All
    } else {
        AdminConsent::Granted(granted)
    };
}
