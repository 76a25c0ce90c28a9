//! High-privilege application permissions: the ones a reviewer must see called out.
//!
//! Why it exists: `RoleManagement.ReadWrite.Directory` with admin consent reads like any other line
//! of a manifest, yet it lets the app make itself Global Administrator. `data/high-privilege.tsv`
//! lists such permissions with why and a source per row: every tier-0 Microsoft Graph application
//! permission of the public azure-tiering classification (a known path to Global Administrator),
//! plus appreg's own choice of permissions that reach every mailbox, site or drive.
//!
//! What it must never do: list delegated permissions (a signed-in user bounds them), or be read as
//! a complete judgement: a permission not listed here is not thereby safe.

use std::sync::LazyLock;

use uuid::Uuid;

use super::PermissionKind;

/// One listed permission.
#[derive(Debug)]
pub struct HighPrivilege {
    /// The resource's display name, as in the catalogue.
    pub resource: &'static str,
    pub app_id: Uuid,
    /// The application permission's name.
    pub permission: &'static str,
    /// What it lets the app do, in a few words.
    pub why: &'static str,
    pub source: &'static str,
}

/// The entry for this permission, if it is a listed application permission.
pub fn high_privilege(
    app_id: Uuid,
    kind: PermissionKind,
    name: &str,
) -> Option<&'static HighPrivilege> {
    if kind != PermissionKind::Application {
        return None;
    }
    LIST.iter()
        .find(|p| p.app_id == app_id && p.permission == name)
}

/// Every listed permission.
pub fn all() -> &'static [HighPrivilege] {
    &LIST
}

static LIST: LazyLock<Vec<HighPrivilege>> =
    LazyLock::new(|| parse(include_str!("data/high-privilege.tsv")));

/// Parses the checked-in data; a malformed row is a build defect and panics with its line.
fn parse(data: &'static str) -> Vec<HighPrivilege> {
    data.lines()
        .enumerate()
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .skip(1) // column header
        .map(|(index, line)| {
            let bad = |what: &str| -> ! {
                panic!("high-privilege.tsv line {}: {what}: {line:?}", index + 1)
            };
            let fields: Vec<&'static str> = line.split('\t').collect();
            let [resource, permission, why, source] = fields[..] else {
                bad("expected 4 tab-separated columns")
            };
            let app_id = super::resource(resource)
                .map(|r| r.app_id)
                .unwrap_or_else(|| bad("unknown resource"));
            if why.is_empty() || source.is_empty() {
                bad("every row says why and names its source");
            }
            HighPrivilege {
                resource,
                app_id,
                permission,
                why,
                source,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::PermissionKind::{Application, Delegated};
    use super::*;
    use crate::catalogue::{EXCHANGE_ONLINE_APP_ID, MICROSOFT_GRAPH_APP_ID, resource};

    #[test]
    fn listed_and_not_listed() {
        // (resource, kind, name, listed, why)
        let cases = [
            (
                MICROSOFT_GRAPH_APP_ID,
                Application,
                "RoleManagement.ReadWrite.Directory",
                true,
                "assigns directory roles: Global Administrator in one call",
            ),
            (
                MICROSOFT_GRAPH_APP_ID,
                Application,
                "Application.ReadWrite.All",
                true,
                "adds credentials to any app, including privileged ones",
            ),
            (
                MICROSOFT_GRAPH_APP_ID,
                Application,
                "AppRoleAssignment.ReadWrite.All",
                true,
                "grants itself any application permission",
            ),
            (
                MICROSOFT_GRAPH_APP_ID,
                Application,
                "Directory.ReadWrite.All",
                true,
                "tier 0 in the source data",
            ),
            (
                MICROSOFT_GRAPH_APP_ID,
                Application,
                "Calendars.ReadWrite",
                true,
                "every mailbox's calendar",
            ),
            (
                MICROSOFT_GRAPH_APP_ID,
                Application,
                "Mail.Send",
                true,
                "mail as anyone",
            ),
            (
                EXCHANGE_ONLINE_APP_ID,
                Application,
                "full_access_as_app",
                true,
                "every mailbox through EWS",
            ),
            (
                MICROSOFT_GRAPH_APP_ID,
                Delegated,
                "Directory.ReadWrite.All",
                false,
                "delegated: bounded by the signed-in user",
            ),
            (
                MICROSOFT_GRAPH_APP_ID,
                Application,
                "User.Read.All",
                false,
                "read-only directory data",
            ),
            (
                MICROSOFT_GRAPH_APP_ID,
                Application,
                "Calendars.Read",
                false,
                "tier 2, read only",
            ),
        ];
        for (app_id, kind, name, listed, why) in cases {
            assert_eq!(
                high_privilege(app_id, kind, name).is_some(),
                listed,
                "{name}: {why}"
            );
        }
    }

    #[test]
    fn every_row_names_a_real_application_permission() {
        assert!(
            all().len() >= 41,
            "at least the 41 tier-0 Graph permissions"
        );
        for p in all() {
            let r = resource(p.resource).unwrap();
            // The tier data is newer than the catalogue's Graph snapshot for a few names; those
            // stay listed (the tenant decides at plan time). A name the catalogue knows must be
            // an application permission there, or the row would never match.
            let kinds = r.kinds_of(p.permission);
            assert!(
                kinds.is_empty() || kinds.contains(&Application),
                "{}: {} is not an application permission",
                p.resource,
                p.permission
            );
        }
    }
}
