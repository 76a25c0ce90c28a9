//! Owners of the enterprise application (`servicePrincipal.owners`), kept apart from the owners of
//! the app registration: an enterprise application's owners manage its sign-in settings and
//! assignments, not the registration. Managed only when the manifest lists some; the identity
//! appreg runs as, which Graph makes an owner of each service principal it creates, is never
//! removed (see `owners`). Idempotency: adding an owner that is already there ("already exist")
//! counts as done; removing one that is gone too.

use super::owners::{self, check_in, desired_in, live_in, reference};
use super::{
    AppContext, DirectoryName, Instance, Phase, Requires, ResourceKind, Write, WriteError,
};
use crate::engine::observed::{ObservedApp, str_of};
use crate::engine::plan::{Notice, ResourceType};
use crate::graph::Request;
use crate::model::DesiredApp;

/// Where these owners sit under the app's address: `app.<key>.service_principal.owner.<who>`.
const PREFIX: &str = "service_principal.";

/// The owners collection of a service principal.
fn collection(sp_id: &str) -> String {
    format!("/servicePrincipals/{sp_id}/owners")
}

/// The live service principal's object id, when it exists.
fn live_sp_id(live: &ObservedApp) -> Option<&str> {
    live.service_principal
        .as_ref()
        .and_then(|s| str_of(s, "id"))
}

pub struct ServicePrincipalOwners;

impl ResourceKind for ServicePrincipalOwners {
    fn resource(&self) -> ResourceType {
        ResourceType::Owner
    }

    fn phase(&self) -> Phase {
        Phase::SubObject
    }

    fn requires(&self) -> Requires {
        Requires::ServicePrincipal
    }

    fn desired(&self, ctx: &AppContext) -> Vec<Instance> {
        desired_in(ctx, &ctx.app.service_principal.owners, PREFIX)
    }

    fn live(&self, ctx: &AppContext) -> Vec<Instance> {
        let objects = live_sp_id(&ctx.live)
            .map(|id| ctx.live.collection(&collection(id)))
            .unwrap_or_default();
        live_in(ctx, &ctx.app.service_principal.owners, objects, PREFIX)
    }

    /// Every owner the manifest names must exist in the tenant.
    fn check(
        &self,
        ctx: &AppContext,
        _: chrono::DateTime<chrono::Utc>,
        _: &mut Vec<Notice>,
        problems: &mut Vec<super::Problem>,
    ) {
        check_in(ctx, &ctx.app.service_principal.owners, problems);
    }

    fn directory_names(&self, app: &DesiredApp) -> Vec<DirectoryName> {
        app.service_principal
            .owners
            .iter()
            .map(owners::directory_name)
            .collect()
    }

    /// The service principal's owners, read only when the manifest lists some.
    fn reads(&self, app: &DesiredApp, live: &ObservedApp) -> Vec<String> {
        if app.service_principal.owners.is_empty() {
            return Vec::new();
        }
        live_sp_id(live).map(collection).into_iter().collect()
    }

    /// `POST /servicePrincipals/{id}/owners/$ref`; "already exist" answers count as done.
    fn create(&self, ctx: &AppContext, write: &Write) -> Result<Request, WriteError> {
        let collection = collection(&write.sp_id()?);
        reference(
            ctx,
            &ctx.app.service_principal.owners,
            PREFIX,
            write,
            collection,
        )
    }

    /// An owner has nothing to update: it is there or not.
    fn update(&self, _: &AppContext, _: &Write) -> Result<Request, WriteError> {
        Err(WriteError::NothingToUpdate("an owner"))
    }

    /// `DELETE /servicePrincipals/{id}/owners/{owner}/$ref`; gone (404) counts as done.
    fn delete(&self, _: &AppContext, write: &Write) -> Result<Request, WriteError> {
        Ok(Request::delete(format!(
            "{}/{}/$ref",
            collection(&write.sp_id()?),
            write.live_id()?
        )))
    }

    /// The enterprise application's owners, as for the app's own.
    fn inverse(&self, from: &super::Adopted, app: &mut DesiredApp, out: &mut super::Inverse) {
        let objects = live_sp_id(from.live)
            .map(|id| from.live.collection(&collection(id)))
            .unwrap_or_default();
        app.service_principal.owners =
            owners::owner_refs(from, objects, "the enterprise application", out);
    }

    /// The owners of the service principal, whatever the (empty) manifest lists.
    fn import_reads(&self, live: &ObservedApp) -> Vec<String> {
        live_sp_id(live).map(collection).into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::observed::Observed;
    use crate::engine::step::{AppIds, Step};
    use crate::model::OwnerRef;
    use serde_json::json;

    fn app() -> DesiredApp {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut state = crate::manifest::load(&[root.join("examples")], &|_: &str| None)
            .unwrap()
            .state;
        let mut app = state.apps.pop_first().unwrap().1;
        app.service_principal.owners = [
            OwnerRef::User("Alex@contoso.com".into()),
            OwnerRef::ServicePrincipal("11111111-1111-1111-1111-111111111111".into()),
        ]
        .into();
        app
    }

    /// Each request the kind builds, table by table: (why, action, expected method and path).
    #[test]
    fn requests_name_the_service_principal_and_the_owner() {
        let app = app();
        let mut observed = Observed::default();
        observed.users.insert(
            "alex@contoso.com".into(),
            Some(json!({"id": "user-1", "userPrincipalName": "alex@contoso.com"})),
        );
        observed.owner_service_principals.insert(
            "11111111-1111-1111-1111-111111111111".into(),
            Some(json!({"id": "sp-owner", "appId": "11111111-1111-1111-1111-111111111111"})),
        );
        let ctx = AppContext::new("set", &app, &observed);
        let ids = AppIds {
            sp_id: Some("sp-1".into()),
            ..Default::default()
        };
        let desired = ServicePrincipalOwners.desired(&ctx);
        let addresses: Vec<&str> = desired.iter().map(|i| i.address.as_str()).collect();
        let key = &app.key;
        assert_eq!(
            addresses,
            [
                format!("app.{key}.service_principal.owner.alex@contoso.com"),
                format!(
                    "app.{key}.service_principal.owner.sp.11111111-1111-1111-1111-111111111111"
                ),
            ]
        );
        let cases = [
            (
                "a user is added by reference",
                &desired[0],
                "/servicePrincipals/sp-1/owners/$ref",
                "https://graph.microsoft.com/v1.0/directoryObjects/user-1",
            ),
            (
                "a service principal is added by its object id, not its appId",
                &desired[1],
                "/servicePrincipals/sp-1/owners/$ref",
                "https://graph.microsoft.com/v1.0/directoryObjects/sp-owner",
            ),
        ];
        for (why, instance, path, reference) in cases {
            let step = Step {
                app_key: Some(app.key.clone()),
                desired: Some(Box::new(instance.clone())),
                live: None,
                secret: None,
            };
            let request = ServicePrincipalOwners
                .create(
                    &ctx,
                    &Write {
                        step: &step,
                        ids: &ids,
                    },
                )
                .unwrap();
            assert_eq!(request.path, path, "{why}");
            assert_eq!(
                request.body.as_ref().unwrap()["@odata.id"],
                json!(reference),
                "{why}"
            );
        }
        let gone = Step {
            app_key: Some(app.key.clone()),
            desired: None,
            live: Some(Box::new(
                Instance::new(
                    crate::engine::address::Address::app("x"),
                    ResourceType::Owner,
                    Default::default(),
                )
                .observed(&json!({"id": "user-9"})),
            )),
            secret: None,
        };
        let request = ServicePrincipalOwners
            .delete(
                &ctx,
                &Write {
                    step: &gone,
                    ids: &ids,
                },
            )
            .unwrap();
        assert_eq!(request.path, "/servicePrincipals/sp-1/owners/user-9/$ref");
        let without_sp = Write {
            step: &gone,
            ids: &AppIds::default(),
        };
        assert_eq!(
            ServicePrincipalOwners
                .delete(&ctx, &without_sp)
                .unwrap_err(),
            WriteError::MissingId("service principal")
        );
    }

    #[test]
    fn owners_are_read_and_compared_only_when_the_manifest_lists_some() {
        let mut app = app();
        let live = ObservedApp {
            service_principal: Some(json!({"id": "sp-1"})),
            ..Default::default()
        };
        assert_eq!(
            ServicePrincipalOwners.reads(&app, &live),
            ["/servicePrincipals/sp-1/owners"]
        );
        app.service_principal.owners.clear();
        assert!(ServicePrincipalOwners.reads(&app, &live).is_empty());
        let mut observed = Observed::default();
        let mut live = live;
        live.collections.insert(
            "/servicePrincipals/sp-1/owners".into(),
            vec![json!({"@odata.type": "#microsoft.graph.user", "id": "u", "userPrincipalName": "kim@contoso.com"})],
        );
        observed.apps.insert(app.key.clone(), live);
        let ctx = AppContext::new("set", &app, &observed);
        assert!(ServicePrincipalOwners.live(&ctx).is_empty());
    }
}
