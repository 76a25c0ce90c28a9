//! Desired state + observation -> plan. Pure: no IO, so it can be property-tested.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::address::Address;
use super::fields;
use super::kinds::{self, AppContext, Instance, KINDS, Phase};
use super::observed::{Observed, str_of};
use super::ownership;
use super::plan::{Action, Change, FORMAT_VERSION, FieldChange, Notice, Plan};
use super::problem::{Cause, PlanError, Problem};
use super::registry::SEQUENCES;
use super::step::{Step, digest, digest_of};
use crate::catalogue::PermissionKind;
use crate::model::{DesiredApp, DesiredState};

#[derive(Debug, Clone, Copy, Default)]
pub struct PlanOptions {
    /// Delete apps of this set that left the manifest.
    pub prune: bool,
    /// appId of the identity appreg runs as, when the credential configuration names it (else
    /// `engine::plan` reads it from the token). That app is never managed or pruned (see
    /// `ownership`); Graph makes an app-only caller an owner of the apps it creates, and that
    /// owner is never planned for removal (see `kinds::owners`).
    pub caller: Option<uuid::Uuid>,
    /// The moment secrets and certificates are judged at (`--as-of`), when not the present:
    /// a plan can show what rotation will be due by a coming day.
    pub as_of: Option<chrono::DateTime<chrono::Utc>>,
}

/// Digest of the desired state, for "plan is stale" checks. It hashes the manifest's serialisation
/// as it is written: planning ends with the whole observation and plan held, and a JSON tree of
/// the manifest on top was the peak of a plan of 10,000 apps.
pub fn manifest_digest(state: &DesiredState) -> String {
    digest_of(&crate::manifest::to_wire(state))
}

/// A plan with what apply needs to carry it out: for each change, the desired and live instances.
#[derive(Debug)]
pub struct Planned {
    pub plan: Plan,
    /// `steps[i]` carries out `plan.changes[i]`.
    pub steps: Vec<Step>,
}

pub fn plan(
    state: &DesiredState,
    observed: &Observed,
    options: PlanOptions,
    now: DateTime<Utc>,
) -> Result<Planned, PlanError> {
    // First, while the plan is still empty: the manifest's wire form is a copy of the state.
    let manifest_digest = manifest_digest(state);
    let mut problems = Vec::new();
    // Changes and their steps in two lists from the start: a list of pairs split at the end held
    // both copies at once, at 10,000 apps a hundred megabytes.
    let mut changes = Vec::new();
    let mut steps = Vec::new();
    let mut deletions = Vec::new();
    let mut notices = Vec::new();
    for app in state.apps.values() {
        // Ownership first: an entry that names an app it may not manage plans nothing at all.
        // The context opens the app's observation, once.
        let ctx = AppContext::new(&state.set_name, app, observed);
        let found = ownership::Found {
            app: ctx.live.application.as_ref(),
            unique_name_holder: ctx.live.unique_name_holder.as_ref(),
        };
        let adopting = match ownership::check(app, &found, &state.set_name, observed.caller) {
            Ok(adopting) => adopting,
            Err(found) => {
                problems.extend(found);
                continue;
            }
        };
        if !check_resources(app, observed, &mut problems) {
            continue;
        }
        for kind in KINDS {
            kind.check(&ctx, now, &mut notices, &mut problems);
        }
        let (desired, live) = kinds::instances(&ctx);
        for (change, desired, live) in pair(desired, live) {
            let mut change = change;
            let step = Step {
                app_key: Some(app.key.clone()),
                desired: desired.map(Box::new),
                live: live.map(Box::new),
                secret: None,
            };
            let kind = step.kind().map(kinds::kind);
            // A takeover is its own reason, so a reviewer never reads it as a tag change.
            if let Some(adopting) = &adopting
                && kind.is_some_and(|k| k.phase() == Phase::Application)
            {
                change.action = Action::Update;
                change.reason = format!("{}; {}", adopting.reason(), change.reason);
            }
            if change.action == Action::Update
                && let Some(reason) = kind.and_then(|k| k.replaces())
            {
                change.action = Action::Replace;
                change.reason = reason.into();
            }
            if change.action == Action::Delete {
                deletions.push((change, step.to_write()));
            } else if change.action == Action::NoOp {
                changes.push(change);
                steps.push(step.unchanged());
            } else {
                changes.push(change);
                steps.push(step.to_write());
            }
        }
        for sequence in SEQUENCES {
            for (change, step) in sequence.plan(&ctx, now, &mut notices, &mut problems) {
                if change.action == Action::Delete {
                    deletions.push((change, step));
                } else {
                    changes.push(change);
                    steps.push(step);
                }
            }
        }
    }
    let (root_id, root) = kinds::root();
    if options.prune || state.prune {
        for stray in &observed.strays {
            // The identity appreg runs as is never deleted, whatever tags it carries.
            if observed.caller.is_some() && ownership::app_id(stray) == observed.caller {
                notices.push(Notice {
                    address: Address::app(&ownership::escaped(
                        str_of(stray, "uniqueName").unwrap_or("?"),
                    )),
                    message: format!(
                        "{} carries this set's tags but is the identity appreg runs as; never pruned",
                        ownership::describe(stray)
                    ),
                });
                continue;
            }
            let key = str_of(stray, "uniqueName")
                .or_else(|| str_of(stray, "displayName"))
                .unwrap_or("?");
            let address = Address::app(key);
            if let Some(app) = state.apps.get(key)
                && app.lifecycle.prevent_destroy
            {
                problems.push(Problem::new(
                    address.clone(),
                    Cause::PreventDestroy,
                    "would be deleted but has lifecycle.preventDestroy",
                ));
            }
            let change = Change {
                address: address.clone(),
                resource: root.resource(),
                action: Action::Delete,
                reason: format!("left the manifest; managed by set `{}`", state.set_name),
                fields: Vec::new(),
                live_digest: Some(digest(stray)),
            };
            let mut live =
                Instance::new(address, root.resource(), Default::default()).observed(stray);
            live.kind = Some(root_id);
            deletions.push((
                change,
                Step {
                    app_key: None,
                    desired: None,
                    live: Some(Box::new(live)),
                    secret: None,
                },
            ));
        }
    }
    // Sub-objects go before the apps that hold them.
    deletions.sort_by_key(|(_, step)| step.kind() == Some(root_id));
    for (change, step) in deletions {
        changes.push(change);
        steps.push(step);
    }
    if !problems.is_empty() {
        return Err(PlanError { problems });
    }
    let plan = Plan {
        format_version: FORMAT_VERSION,
        set_name: state.set_name.clone(),
        tenant_id: observed.tenant_id.clone(),
        manifest_digest,
        created_at: now,
        prune: options.prune || state.prune,
        manifest_paths: Vec::new(),
        targets: Vec::new(),
        changes,
        notices,
    };
    Ok(Planned { plan, steps })
}

/// Every resource the app names has a service principal in the tenant that defines every
/// permission name; each problem is recorded. True when there is none.
fn check_resources(app: &DesiredApp, observed: &Observed, problems: &mut Vec<Problem>) -> bool {
    let before = problems.len();
    for (written, requested) in &app.permissions {
        let Some(api) = observed.resources.get(written) else {
            problems.push(Problem::new(
                Address::app(&app.key),
                Cause::UnknownResource,
                format!("resource `{written}` has no service principal in the tenant"),
            ));
            continue;
        };
        for (kind, names) in [
            (PermissionKind::Delegated, &requested.delegated),
            (PermissionKind::Application, &requested.application),
        ] {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            if let Err(unknown) = api.resolve(kind, &names) {
                problems.extend(
                    unknown
                        .into_iter()
                        .map(|p| Problem::new(Address::app(&app.key), Cause::UnknownPermission, p)),
                );
            }
        }
    }
    problems.len() == before
}

/// Pairs desired and live instances by address into changes, in the desired order (live-only
/// instances, to delete, after them).
fn pair(
    desired: Vec<Instance>,
    live: Vec<Instance>,
) -> Vec<(Change, Option<Instance>, Option<Instance>)> {
    let mut live_by_address: BTreeMap<Address, Instance> = BTreeMap::new();
    let mut extra_live = Vec::new();
    for instance in live {
        // A second live object at one address (a duplicate) is surplus: it is deleted.
        if live_by_address.contains_key(&instance.address) {
            extra_live.push(instance);
        } else {
            live_by_address.insert(instance.address.clone(), instance);
        }
    }
    let mut changes = Vec::new();
    for wanted in desired {
        let found = live_by_address.remove(&wanted.address);
        let change = match &found {
            None => Change {
                reason: "not in the tenant".into(),
                fields: fields::diff(&wanted.fields, &Default::default()),
                address: wanted.address.clone(),
                resource: wanted.resource,
                action: Action::Create,
                live_digest: None,
            },
            Some(found) => {
                let differences: Vec<FieldChange> = fields::diff(&wanted.fields, &found.fields);
                let (action, reason) = if differences.is_empty() {
                    (Action::NoOp, "matches the manifest".to_string())
                } else {
                    let n = differences.len();
                    (
                        Action::Update,
                        format!("{n} field{} changed", if n == 1 { "" } else { "s" }),
                    )
                };
                Change {
                    address: wanted.address.clone(),
                    resource: wanted.resource,
                    action,
                    reason,
                    fields: differences,
                    live_digest: found.live.as_ref().map(digest),
                }
            }
        };
        changes.push((change, Some(wanted), found));
    }
    for found in live_by_address.into_values().chain(extra_live) {
        let change = Change {
            reason: "not in the manifest".into(),
            address: found.address.clone(),
            resource: found.resource,
            action: Action::Delete,
            fields: Vec::new(),
            live_digest: found.live.as_ref().map(digest),
        };
        changes.push((change, None, Some(found)));
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::plan::ResourceType;
    use crate::engine::resolve::ResourceApi;
    use crate::model::Principal;
    use serde_json::Value;
    use serde_json::json;

    /// A resource service principal as a tenant would have it, from the offline catalogue.
    fn resource_sp(name: &str, id: &str) -> ResourceApi {
        ResourceApi::from_catalogue(name, id)
    }

    fn examples() -> DesiredState {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        crate::manifest::load(&[root.join("examples")], &|_: &str| None)
            .unwrap()
            .state
    }

    fn empty_tenant(state: &DesiredState) -> Observed {
        let mut observed = Observed {
            tenant_id: "tenant".into(),
            ..Default::default()
        };
        for app in state.apps.values() {
            for written in app.permissions.keys() {
                observed.resources.insert(
                    written.clone(),
                    resource_sp(written, &format!("sp-{written}")),
                );
            }
            for assignment in &app.service_principal.assignments {
                match &assignment.principal {
                    Principal::User(upn) => {
                        observed.users.insert(
                            upn.to_lowercase(),
                            Some(json!({"id": format!("user-{upn}")})),
                        );
                    }
                    Principal::Group(name) => {
                        observed
                            .groups
                            .insert(name.clone(), vec![json!({"id": format!("group-{name}")})]);
                    }
                }
            }
        }
        observed
    }

    #[test]
    fn an_empty_tenant_plans_creates_in_dependency_order() {
        let state = examples();
        let planned = plan(
            &state,
            &empty_tenant(&state),
            PlanOptions::default(),
            Utc::now(),
        )
        .unwrap();
        assert!(
            planned
                .plan
                .changes
                .iter()
                .all(|c| c.action == Action::Create),
            "{:#?}",
            planned.plan.changes
        );
        assert_eq!(planned.plan.changes.len(), planned.steps.len());
        for app in state.apps.keys() {
            let position = |resource| {
                planned.plan.changes.iter().position(|c| {
                    c.resource == resource && c.address.starts_with(&format!("app.{app}"))
                })
            };
            let app_at = position(ResourceType::Application).unwrap();
            let sp_at = position(ResourceType::ServicePrincipal).unwrap();
            assert!(
                app_at < sp_at,
                "{app}: the app comes before its service principal"
            );
        }
        let crm_grant = planned
            .plan
            .changes
            .iter()
            .find(|c| c.address == "app.crm-calendar-sync.grant.Microsoft Graph")
            .unwrap();
        assert!(
            crm_grant.fields[0]
                .after
                .as_ref()
                .unwrap()
                .to_string()
                .contains("User.Read")
        );
    }

    #[test]
    fn every_address_a_kind_builds_reads_back_to_its_app() {
        let state = examples();
        let planned = plan(
            &state,
            &empty_tenant(&state),
            PlanOptions::default(),
            Utc::now(),
        )
        .unwrap();
        let mut resources = std::collections::BTreeSet::new();
        for (change, step) in planned.plan.changes.iter().zip(&planned.steps) {
            let read = Address::parse(change.address.as_str()).unwrap();
            assert_eq!(read.key(), change.address.key(), "{}", change.address);
            assert_eq!(step.app_key.as_deref(), Some(read.key()));
            resources.insert(format!("{:?}", change.resource));
        }
        // The examples name objects of most kinds; the fewer they cover, the less this proves.
        assert!(resources.len() >= 6, "{resources:?}");
    }

    /// The Graph v1.0 properties of each type appreg writes (tests/fixtures, from the CSDL).
    fn graph_properties() -> BTreeMap<String, Vec<String>> {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let text =
            std::fs::read_to_string(root.join("tests/fixtures/graph-v1.0-properties.tsv")).unwrap();
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('\t'))
            .map(|(t, p)| (t.to_string(), p.split(',').map(str::to_string).collect()))
            .collect()
    }

    /// The Graph type of a nested property, for the properties appreg writes.
    fn nested_type(property: &str) -> Option<&'static str> {
        Some(match property {
            "web" => "webApplication",
            "implicitGrantSettings" => "implicitGrantSettings",
            "spa" => "spaApplication",
            "publicClient" => "publicClientApplication",
            "api" => "apiApplication",
            "oauth2PermissionScopes" => "permissionScope",
            "preAuthorizedApplications" => "preAuthorizedApplication",
            "appRoles" => "appRole",
            "optionalClaims" => "optionalClaims",
            "idToken" | "accessToken" | "saml2Token" => "optionalClaim",
            "info" => "informationalUrl",
            "requiredResourceAccess" => "requiredResourceAccess",
            "resourceAccess" => "resourceAccess",
            "keyCredentials" => "keyCredential",
            _ => return None,
        })
    }

    fn check_body(
        schema: &BTreeMap<String, Vec<String>>,
        graph_type: &str,
        body: &Value,
        at: &str,
        problems: &mut Vec<String>,
    ) {
        let items: Vec<&Value> = match body {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for item in items {
            let Some(object) = item.as_object() else {
                continue;
            };
            for (key, value) in object {
                if key.starts_with('@') {
                    continue;
                }
                if !schema[graph_type].contains(key) {
                    problems.push(format!("{at}: `{key}` is not a property of {graph_type}"));
                }
                if let Some(nested) = nested_type(key) {
                    check_body(schema, nested, value, &format!("{at}.{key}"), problems);
                }
            }
        }
    }

    /// The bodies the kinds build, for every example against an empty tenant, use only properties
    /// the Graph v1.0 schema defines on the type each request writes.
    #[test]
    fn every_body_the_kinds_send_names_only_graph_properties() {
        let schema = graph_properties();
        let state = examples();
        let observed = empty_tenant(&state);
        let planned = plan(&state, &observed, PlanOptions::default(), Utc::now()).unwrap();
        let ids = crate::engine::step::AppIds {
            object_id: Some("object".into()),
            app_id: Some("app".into()),
            sp_id: Some("sp".into()),
            fresh: false,
        };
        let (mut problems, mut checked) = (Vec::new(), 0);
        for (change, step) in planned.plan.changes.iter().zip(&planned.steps) {
            let (Some(kind), Some(key)) = (step.kind(), &step.app_key) else {
                continue;
            };
            let ctx = AppContext::new(&state.set_name, &state.apps[key], &observed);
            let write = kinds::Write { step, ids: &ids };
            let request = kinds::write(kinds::kind(kind), &ctx, change.action, &write).unwrap();
            let Some(body) = &request.body else { continue };
            let path = request.path.as_str();
            let graph_type = if path.ends_with("$ref") {
                continue;
            } else if path.starts_with("/applications")
                && path.ends_with("federatedIdentityCredentials")
            {
                "federatedIdentityCredential"
            } else if path.starts_with("/applications") {
                "application"
            } else if path.ends_with("appRoleAssignedTo") || path.ends_with("appRoleAssignments") {
                "appRoleAssignment"
            } else if path.starts_with("/servicePrincipals") {
                "servicePrincipal"
            } else if path.starts_with("/oauth2PermissionGrants") {
                "oAuth2PermissionGrant"
            } else {
                panic!("no Graph type known for {path}");
            };
            checked += 1;
            check_body(&schema, graph_type, body, &change.address, &mut problems);
        }
        assert!(checked > 10, "only {checked} bodies were checked");
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        // The check itself finds a misspelt property.
        let mut found = Vec::new();
        check_body(
            &schema,
            "application",
            &json!({"web": {"redirectUri": []}}),
            "x",
            &mut found,
        );
        assert_eq!(
            found,
            ["x.web: `redirectUri` is not a property of webApplication"]
        );
    }

    #[test]
    fn names_the_tenant_lacks_fail_the_plan_with_every_problem() {
        let mut state = examples();
        let app = state.apps.get_mut("erp-contacts-sync").unwrap();
        app.permissions
            .get_mut("Microsoft Graph")
            .unwrap()
            .delegated
            .insert("Contacts.ReadWirte".into());
        let mut observed = empty_tenant(&state);
        observed.users.clear();
        let error = plan(&state, &observed, PlanOptions::default(), Utc::now()).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("did you mean `Contacts.ReadWrite`"), "{text}");
        assert!(
            text.contains("user `mail-sender@contoso.com` does not exist"),
            "{text}"
        );
        // Each problem is a value: the app it is about and its cause, without reading the text.
        let causes: Vec<(&str, Cause)> = error
            .problems
            .iter()
            .map(|p| (p.address.key(), p.cause))
            .collect();
        assert!(
            causes.contains(&("erp-contacts-sync", Cause::UnknownPermission)),
            "{causes:?}"
        );
        assert!(
            causes.iter().any(|(_, c)| *c == Cause::UnknownPrincipal),
            "{causes:?}"
        );
    }

    #[test]
    fn strays_are_deleted_only_when_pruning() {
        let state = examples();
        let mut observed = empty_tenant(&state);
        observed
            .strays
            .push(json!({"id": "x", "uniqueName": "old-app", "displayName": "Old"}));
        let kept = plan(
            &state,
            &observed,
            PlanOptions {
                prune: false,
                caller: None,
                ..Default::default()
            },
            Utc::now(),
        )
        .unwrap();
        assert!(!kept.plan.changes.iter().any(|c| c.address == "app.old-app"));
        let pruned = plan(
            &state,
            &observed,
            PlanOptions {
                prune: true,
                caller: None,
                ..Default::default()
            },
            Utc::now(),
        )
        .unwrap();
        let last = pruned.plan.changes.last().unwrap();
        assert_eq!(
            (last.address.as_str(), last.action),
            ("app.old-app", Action::Delete)
        );
    }
}
