//! Owners of the application. Only managed when the manifest lists owners: an app whose entry names
//! none keeps whatever owners it has (often the identity appreg runs as, which must stay an owner
//! to keep managing the app with Application.ReadWrite.OwnedBy). When owners are listed, the
//! identity appreg runs as is still never removed: Graph makes an app-only caller an owner of each
//! app it creates, so removing it would never converge (every create adds it back) and would lock
//! an OwnedBy caller out. Idempotency: adding an owner that is already there ("already exist")
//! counts as done; removing one that is gone too.

use serde_json::Value;

use super::{AppContext, Instance};
use crate::engine::fields::Fields;
use crate::engine::observed::str_of;
use crate::engine::plan::ResourceType;
use crate::model::OwnerRef;

/// The address part naming an owner: `owner.alex@contoso.com` or `owner.sp.<appId>`.
pub fn suffix(owner: &OwnerRef) -> String {
    match owner {
        OwnerRef::User(upn) => format!("owner.{}", upn.to_lowercase()),
        OwnerRef::ServicePrincipal(app_id) => format!("owner.sp.{}", app_id.to_lowercase()),
    }
}

pub fn desired(ctx: &AppContext) -> Vec<Instance> {
    ctx.app
        .owners
        .iter()
        .map(|o| Instance::new(ctx.address(&suffix(o)), ResourceType::Owner, Fields::new()))
        .collect()
}

pub fn live(ctx: &AppContext) -> Vec<Instance> {
    if ctx.app.owners.is_empty() {
        return Vec::new();
    }
    ctx.live
        .owners
        .iter()
        .filter(|o| !is_caller(ctx, o))
        .filter_map(|o| {
            Some(
                Instance::new(
                    ctx.address(&suffix(&owner_ref(o)?)),
                    ResourceType::Owner,
                    Fields::new(),
                )
                .observed(o),
            )
        })
        .collect()
}

/// Whether an owner is the service principal of the identity appreg runs as.
fn is_caller(ctx: &AppContext, owner: &Value) -> bool {
    let Some(caller) = ctx.observed.caller else {
        return false;
    };
    str_of(owner, "@odata.type").is_some_and(|t| t.ends_with("servicePrincipal"))
        && str_of(owner, "appId").is_some_and(|a| a.eq_ignore_ascii_case(&caller.to_string()))
}

/// An owner directory object as the manifest would name it.
pub fn owner_ref(object: &Value) -> Option<OwnerRef> {
    let odata_type = str_of(object, "@odata.type").unwrap_or_default();
    if odata_type.ends_with("servicePrincipal") {
        Some(OwnerRef::ServicePrincipal(
            str_of(object, "appId")?.to_string(),
        ))
    } else {
        Some(OwnerRef::User(
            str_of(object, "userPrincipalName")?.to_string(),
        ))
    }
}
