//! Apps that still hold permissions on an API Microsoft is retiring or has retired.
//!
//! Why it exists: validation warns about what the manifest asks for, but the tenant may still hold
//! what an earlier manifest (or a person in the portal) asked for: an app moved to Microsoft Graph
//! keeps `full_access_as_app` until the next apply. `drift` runs on a schedule, so it is where such
//! an app is reported, with the dates and the replacement from the catalogue's lifecycle data.
//!
//! What it must never do: read the clock (the caller passes the day) or write anything.

use chrono::NaiveDate;
use serde_json::Value;
use uuid::Uuid;

use super::address::Address;
use super::observed::{Observed, str_of};
use super::plan::Notice;
use crate::catalogue::{self, PermissionKind};
use crate::model::DesiredState;

/// One notice per retiring or retired permission in the live `requiredResourceAccess` of each app
/// of the manifest, as of `today`.
pub fn notices(state: &DesiredState, observed: &Observed, today: NaiveDate) -> Vec<Notice> {
    let mut out = Vec::new();
    for key in state.apps.keys() {
        let Some(application) = observed.apps.get(key).and_then(|a| a.application) else {
            continue;
        };
        for (resource, kind, name) in held(&application) {
            if let Some(retirement) = catalogue::lifecycle::retirement(resource.app_id, kind, name)
            {
                out.push(Notice {
                    address: Address::app(key),
                    message: format!(
                        "still held: {} ({kind} permission of {}); {}",
                        retirement.describe(name, today),
                        resource.name,
                        retirement.help(kind, name)
                    ),
                });
            }
        }
    }
    out
}

/// The well-known permissions an application object lists, by name.
fn held(application: &Value) -> Vec<(&'static catalogue::Resource, PermissionKind, &'static str)> {
    let mut out = Vec::new();
    let entries = application
        .get("requiredResourceAccess")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for entry in entries {
        let Some(resource) = str_of(entry, "resourceAppId").and_then(catalogue::resource) else {
            continue;
        };
        let accesses = entry
            .get("resourceAccess")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        for access in accesses {
            let kind = match str_of(access, "type") {
                Some("Scope") => PermissionKind::Delegated,
                Some("Role") => PermissionKind::Application,
                _ => continue,
            };
            let Some(id) = str_of(access, "id").and_then(|id| Uuid::parse_str(id).ok()) else {
                continue;
            };
            if let Some(permission) = resource.permission_by_id(kind, id) {
                out.push((resource, kind, permission.name));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::observed::ObservedApp;
    use serde_json::json;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    /// A manifest of one app (`crm`) and a tenant where it holds `full_access_as_app` (EWS) and
    /// Microsoft Graph `Calendars.ReadWrite`.
    fn world() -> (DesiredState, Observed) {
        let state = crate::manifest::load_bytes(
            std::path::Path::new("m.yaml"),
            b"version: 1\nname: t\napps:\n  crm:\n    displayName: CRM\n",
            &|_: &str| None,
        )
        .expect("a minimal manifest loads")
        .state;
        let application = json!({
            "requiredResourceAccess": [
                {"resourceAppId": "00000002-0000-0ff1-ce00-000000000000",
                 "resourceAccess": [{"id": "dc890d15-9560-4a4c-9b7f-a736ec74ec40", "type": "Role"}]},
                {"resourceAppId": "00000003-0000-0000-c000-000000000000",
                 "resourceAccess": [{"id": "ef54d2bf-783f-4e0f-bca1-3210c0444d99", "type": "Role"}]}
            ]
        });
        let mut observed = Observed::default();
        observed.apps.insert(
            "crm".into(),
            ObservedApp {
                application: Some(application),
                ..Default::default()
            },
        );
        (state, observed)
    }

    #[test]
    fn a_held_ews_permission_is_reported_with_its_dates() {
        let (state, observed) = world();
        // (day, expected words, why)
        let cases = [
            (
                "2026-09-30",
                "from 2026-10-01",
                "announced: the block is still ahead",
            ),
            (
                "2026-12-07",
                "since 2026-10-01",
                "blocked by default, not yet off",
            ),
            ("2027-04-01", "retired on 2027-04-01", "switched off"),
        ];
        for (today, words, why) in cases {
            let notices = notices(&state, &observed, day(today));
            assert_eq!(
                notices.len(),
                1,
                "{today}: only the EWS permission: {notices:?}"
            );
            let notice = &notices[0];
            assert_eq!(notice.address, "app.crm");
            assert!(
                notice.message.contains("full_access_as_app"),
                "{}",
                notice.message
            );
            assert!(
                notice.message.contains(words),
                "{today}: {why}: {}",
                notice.message
            );
            assert!(
                notice.message.contains("Calendars.ReadWrite"),
                "names the replacement"
            );
        }
    }

    #[test]
    fn apps_not_in_the_tenant_or_without_retiring_permissions_are_quiet() {
        let (state, mut observed) = world();
        observed.apps.update("crm", |crm| {
            crm.application = Some(json!({
                "requiredResourceAccess": [
                    {"resourceAppId": "00000003-0000-0000-c000-000000000000",
                     "resourceAccess": [{"id": "ef54d2bf-783f-4e0f-bca1-3210c0444d99", "type": "Role"}]}
                ]
            }))
        });
        assert!(notices(&state, &observed, day("2027-06-01")).is_empty());
        observed.apps.update("crm", |crm| crm.application = None);
        assert!(notices(&state, &observed, day("2027-06-01")).is_empty());
    }
}
