//! Owners of the application. Only managed when the manifest lists owners: an app whose entry names
//! none keeps whatever owners it has (often the identity appreg runs as, which must stay an owner
//! to keep managing the app with Application.ReadWrite.OwnedBy). When owners are listed, the
//! identity appreg runs as is still never removed: Graph makes an app-only caller an owner of each
//! app it creates, so removing it would never converge (every create adds it back) and would lock
//! an OwnedBy caller out. Idempotency: adding an owner that is already there ("already exist")
//! counts as done; removing one that is gone too.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{AppContext, Instance};
use crate::engine::fields::Fields;
use crate::engine::observed::str_of;
use crate::engine::plan::ResourceType;
use crate::model::OwnerRef;

use super::{DirectoryName, Phase, Requires, ResourceKind, Write, WriteError};
use crate::graph::Request;
use serde_json::json;

/// The address part naming an owner: `owner.alex@contoso.com` or `owner.sp.<appId>`.
pub fn suffix(owner: &OwnerRef) -> String {
    match owner {
        OwnerRef::User(upn) => format!("owner.{}", upn.to_lowercase()),
        OwnerRef::ServicePrincipal(app_id) => format!("owner.sp.{}", app_id.to_lowercase()),
    }
}

pub fn desired(ctx: &AppContext) -> Vec<Instance> {
    desired_in(ctx, &ctx.app.owners, "")
}

pub fn live(ctx: &AppContext) -> Vec<Instance> {
    live_in(ctx, &ctx.app.owners, &ctx.live.owners, "")
}

/// Instances for the `listed` owners of one object, addressed under `prefix` (empty for the
/// app's own owners).
pub fn desired_in(ctx: &AppContext, listed: &BTreeSet<OwnerRef>, prefix: &str) -> Vec<Instance> {
    listed
        .iter()
        .map(|o| {
            Instance::new(
                ctx.address(&format!("{prefix}{}", suffix(o))),
                ResourceType::Owner,
                Fields::new(),
            )
        })
        .collect()
}

/// Instances for the live owner `objects` of one object whose manifest entry lists `listed`;
/// none when it lists none (the owners are then left alone).
pub fn live_in(
    ctx: &AppContext,
    listed: &BTreeSet<OwnerRef>,
    objects: &[Value],
    prefix: &str,
) -> Vec<Instance> {
    if listed.is_empty() {
        return Vec::new();
    }
    // The caller is compared like any owner only when the manifest lists it; otherwise it is
    // invisible here, so never planned for removal.
    let lists_caller = ctx.observed.caller.is_some_and(|caller| {
        listed.iter().any(|o| {
            matches!(o, OwnerRef::ServicePrincipal(a) if a.eq_ignore_ascii_case(&caller.to_string()))
        })
    });
    objects
        .iter()
        .filter(|o| lists_caller || !is_caller(ctx, o))
        .filter_map(|o| {
            Some(
                Instance::new(
                    ctx.address(&format!("{prefix}{}", suffix(&owner_ref(o)?))),
                    ResourceType::Owner,
                    Fields::new(),
                )
                .observed(o),
            )
        })
        .collect()
}

/// Every owner in `listed` must exist in the tenant.
pub fn check_in(ctx: &AppContext, listed: &BTreeSet<OwnerRef>, problems: &mut Vec<super::Problem>) {
    for owner in listed {
        if find(ctx, owner).is_none() {
            problems.push(super::Problem::new(
                ctx.address(""),
                super::Cause::UnknownPrincipal,
                format!("owner `{owner}` does not exist in the tenant"),
            ));
        }
    }
}

/// `POST {collection}/$ref` naming the listed owner the write's desired instance is.
pub fn reference(
    ctx: &AppContext,
    listed: &BTreeSet<OwnerRef>,
    prefix: &str,
    write: &Write,
    collection: String,
) -> Result<Request, WriteError> {
    let desired = write.desired()?;
    let owner = listed
        .iter()
        .find(|o| desired.address == ctx.address(&format!("{prefix}{}", suffix(o))))
        .ok_or(WriteError::NotDeclared("owner"))?;
    let id = find(ctx, owner)
        .and_then(|o| str_of(o, "id").map(str::to_string))
        .ok_or(WriteError::NotInTenant("owner"))?;
    let reference = format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}");
    Ok(write.fresh(Request::post(
        format!("{collection}/$ref"),
        json!({ "@odata.id": reference }),
    )))
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

/// The name observation resolves for an owner.
pub fn directory_name(owner: &OwnerRef) -> DirectoryName {
    match owner {
        OwnerRef::User(upn) => DirectoryName::User(upn.to_lowercase()),
        OwnerRef::ServicePrincipal(app_id) => DirectoryName::ServicePrincipal(app_id.clone()),
    }
}

/// The directory object an owner names, as observation found it.
pub fn find<'a>(ctx: &'a AppContext, owner: &OwnerRef) -> Option<&'a Value> {
    match owner {
        OwnerRef::User(upn) => ctx.observed.users.get(&upn.to_lowercase())?.as_ref(),
        OwnerRef::ServicePrincipal(app_id) => {
            ctx.observed.owner_service_principals.get(app_id)?.as_ref()
        }
    }
}

pub struct Owners;

impl ResourceKind for Owners {
    fn resource(&self) -> ResourceType {
        ResourceType::Owner
    }

    fn phase(&self) -> Phase {
        Phase::SubObject
    }

    fn requires(&self) -> Requires {
        Requires::Application
    }

    fn desired(&self, ctx: &AppContext) -> Vec<Instance> {
        desired(ctx)
    }

    fn live(&self, ctx: &AppContext) -> Vec<Instance> {
        live(ctx)
    }

    /// Every owner the manifest names must exist in the tenant.
    fn check(
        &self,
        ctx: &AppContext,
        _: chrono::DateTime<chrono::Utc>,
        _: &mut Vec<crate::engine::plan::Notice>,
        problems: &mut Vec<super::Problem>,
    ) {
        check_in(ctx, &ctx.app.owners, problems);
    }

    fn directory_names(&self, app: &crate::model::DesiredApp) -> Vec<DirectoryName> {
        app.owners.iter().map(directory_name).collect()
    }

    /// `POST …/owners/$ref`; "already exist" answers count as done.
    fn create(&self, ctx: &AppContext, write: &Write) -> Result<Request, WriteError> {
        let collection = format!("/applications/{}/owners", write.object_id()?);
        reference(ctx, &ctx.app.owners, "", write, collection)
    }

    /// An owner has nothing to update: it is there or not.
    fn update(&self, _: &AppContext, _: &Write) -> Result<Request, WriteError> {
        Err(WriteError::NothingToUpdate("an owner"))
    }

    fn delete(&self, _: &AppContext, write: &Write) -> Result<Request, WriteError> {
        Ok(Request::delete(format!(
            "/applications/{}/owners/{}/$ref",
            write.object_id()?,
            write.live_id()?
        )))
    }

    /// Users by userPrincipalName, service principals by appId; never the identity appreg runs
    /// as (it stays an owner whatever the manifest says).
    fn inverse(
        &self,
        from: &super::Adopted,
        app: &mut crate::model::DesiredApp,
        out: &mut super::Inverse,
    ) {
        app.owners = owner_refs(from, &from.live.owners, "the app", out);
    }
}

/// The manifest's owners for live owner `objects` of one object (`what`, for notes).
pub fn owner_refs(
    from: &super::Adopted,
    objects: &[Value],
    what: &str,
    out: &mut super::Inverse,
) -> BTreeSet<OwnerRef> {
    let mut owners = BTreeSet::new();
    for object in objects {
        match owner_ref(object) {
            Some(OwnerRef::ServicePrincipal(app_id))
                if from
                    .caller
                    .is_some_and(|c| c.to_string().eq_ignore_ascii_case(&app_id)) => {}
            Some(owner) => {
                owners.insert(owner);
            }
            None => out.unrepresented.push(format!(
                "an owner of {what} ({}, {}) is neither a user with a userPrincipalName nor a service principal",
                str_of(object, "@odata.type").unwrap_or("unknown type"),
                str_of(object, "id").unwrap_or("?")
            )),
        }
    }
    owners
}
