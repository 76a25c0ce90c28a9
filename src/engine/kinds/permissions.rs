//! Application permissions granted by admin consent: one appRoleAssignment of the app's service
//! principal per consented role on each resource (all requested with `adminConsent: true`, those
//! listed when it lists them); assignments the manifest does
//! not declare are removed. Idempotency: assigning a role that is already held ("already exists")
//! counts as done; deleting one that is gone too.

use super::{AppContext, Instance};
use crate::catalogue::PermissionKind;
use crate::engine::fields::Fields;
use crate::engine::observed::str_of;
use crate::engine::plan::ResourceType;

use super::{Phase, Requires, ResourceKind, Write, WriteError};
use crate::graph::Request;
use serde_json::json;

fn address(ctx: &AppContext, resource: &str, role: &str) -> super::Address {
    ctx.address(&format!("app_permission.{resource}.{role}"))
}

pub fn desired(ctx: &AppContext) -> Vec<Instance> {
    let granted = ctx.app.admin_consent.granted(&ctx.app.permissions);
    granted
        .iter()
        .flat_map(|(resource, p)| p.application.iter().map(move |role| (*resource, role)))
        .map(|(resource, role)| {
            Instance::new(
                address(ctx, resource, role),
                ResourceType::ApplicationPermission,
                Fields::new(),
            )
        })
        .collect()
}

pub fn live(ctx: &AppContext) -> Vec<Instance> {
    ctx.live
        .app_role_assignments
        .iter()
        .map(|a| {
            let resource_id = str_of(a, "resourceId").unwrap_or_default();
            let role_id = str_of(a, "appRoleId").unwrap_or_default();
            let resource = ctx.resources.iter().find(|r| r.api.sp_id == resource_id);
            let label = ctx.resource_label(resource_id);
            let role = resource.map_or_else(
                || role_id.to_string(),
                |r| r.api.name_of(PermissionKind::Application, role_id),
            );
            Instance::new(
                address(ctx, &label, &role),
                ResourceType::ApplicationPermission,
                Fields::new(),
            )
            .observed(a)
        })
        .collect()
}

pub struct ApplicationPermissions;

impl ResourceKind for ApplicationPermissions {
    fn resource(&self) -> ResourceType {
        ResourceType::ApplicationPermission
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

    fn create(&self, ctx: &AppContext, write: &Write) -> Result<Request, WriteError> {
        let desired = write.desired()?;
        let (resource, role) = ctx
            .resources
            .iter()
            .find_map(|r| {
                desired
                    .address
                    .strip_prefix(address(ctx, r.written, "").as_str())
                    .map(|role| (r, role))
            })
            .ok_or(WriteError::NotInTenant("resource"))?;
        let role_id = resource
            .api
            .id_of(PermissionKind::Application, role)
            .ok_or(WriteError::NotInTenant("app role"))?;
        let body = json!({ "principalId": write.sp_id()?, "resourceId": resource.api.sp_id, "appRoleId": role_id });
        Ok(write.fresh(Request::post(
            format!(
                "/servicePrincipals/{}/appRoleAssignedTo",
                resource.api.sp_id
            ),
            body,
        )))
    }

    /// An assignment has nothing to update: it is there or not.
    fn update(&self, _: &AppContext, _: &Write) -> Result<Request, WriteError> {
        Err(WriteError::NothingToUpdate("an application permission"))
    }

    fn delete(&self, _: &AppContext, write: &Write) -> Result<Request, WriteError> {
        let resource_id = write
            .live()
            .and_then(|v| str_of(v, "resourceId"))
            .ok_or(WriteError::MissingId("resource of the assignment"))?;
        Ok(Request::delete(format!(
            "/servicePrincipals/{resource_id}/appRoleAssignedTo/{}",
            write.live_id()?
        )))
    }

    /// Application permissions held, as consent (see `grants::simplify_consent`).
    fn inverse(
        &self,
        from: &super::Adopted,
        app: &mut crate::model::DesiredApp,
        out: &mut super::Inverse,
    ) {
        let mut granted = super::grants::consented(app);
        for assignment in &from.live.app_role_assignments {
            let resource_id = str_of(assignment, "resourceId").unwrap_or_default();
            let role_id = str_of(assignment, "appRoleId").unwrap_or_default();
            let Some((written, api)) = from.resource_by_sp(resource_id) else {
                out.unrepresented.push(format!(
                    "application permission {role_id} on resource {resource_id}, whose service principal could not be read; the first apply removes it"
                ));
                continue;
            };
            let role = api.name_of(PermissionKind::Application, role_id);
            let requested = app
                .permissions
                .get(written)
                .is_some_and(|p| p.application.contains(&role));
            if requested {
                granted
                    .entry(written.clone())
                    .or_default()
                    .application
                    .insert(role);
            } else {
                out.unrepresented.push(format!(
                    "application permission `{role}` of {written} is granted but not requested; the first apply removes the grant"
                ));
            }
        }
        app.admin_consent = crate::model::AdminConsent::Granted(granted);
        super::grants::simplify_consent(app);
    }
}
