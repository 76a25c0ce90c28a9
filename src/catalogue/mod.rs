//! Offline catalogue of the permissions of well-known Microsoft resource APIs.
//!
//! Why it exists: a manifest names permissions (`User.Read`, `full_access_as_app`), Entra ID wants
//! their GUIDs, and a typo should be caught before anything talks to a tenant. The catalogue knows
//! Microsoft Graph, Office 365 Exchange Online, Office 365 SharePoint Online and the retired Azure
//! AD Graph (Windows Azure Active Directory), with each permission's id, kind and admin-consent flag.
//!
//! What it must never do: be treated as the authority. At plan time the tenant's own resource
//! service principals (`appRoles`, `oauth2PermissionScopes`) decide; this is a snapshot made by
//! `tools/catalogue/generate.py` (see `tools/catalogue/README.md`), holding facts only, never
//! Microsoft's descriptions. It does no IO: the data is compiled in and parsed once.
//!
//! Beside the names: `lifecycle` (APIs Microsoft is retiring, with dates and replacements),
//! `privilege` (application permissions a reviewer must see called out) and `rules` (the rules
//! these facts feed, as data).

pub mod lifecycle;
pub mod privilege;
pub mod rules;

use std::fmt;
use std::sync::LazyLock;

use uuid::Uuid;

/// Microsoft Graph's appId.
pub const MICROSOFT_GRAPH_APP_ID: Uuid = Uuid::from_u128(0x00000003_0000_0000_c000_000000000000);
/// Office 365 Exchange Online's appId.
pub const EXCHANGE_ONLINE_APP_ID: Uuid = Uuid::from_u128(0x00000002_0000_0ff1_ce00_000000000000);
/// Office 365 SharePoint Online's appId.
pub const SHAREPOINT_ONLINE_APP_ID: Uuid = Uuid::from_u128(0x00000003_0000_0ff1_ce00_000000000000);
/// Windows Azure Active Directory (Azure AD Graph) appId; the API was retired on 2025-07-01.
pub const AZURE_AD_GRAPH_APP_ID: Uuid = Uuid::from_u128(0x00000002_0000_0000_c000_000000000000);

/// How a permission is granted: a delegated scope (`Scope` in `requiredResourceAccess`) acts for a
/// signed-in user; an application permission (`Role`) is an app role assigned to the client itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PermissionKind {
    Delegated,
    Application,
}

impl PermissionKind {
    /// Both kinds, delegated first (the order of the data files).
    pub const ALL: [PermissionKind; 2] = [PermissionKind::Delegated, PermissionKind::Application];

    /// The word used in the data files and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            PermissionKind::Delegated => "delegated",
            PermissionKind::Application => "application",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "delegated" => Some(PermissionKind::Delegated),
            "application" => Some(PermissionKind::Application),
            _ => None,
        }
    }
}

impl fmt::Display for PermissionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One permission a resource API publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// The value Entra ID puts in tokens, e.g. `User.Read`; case-sensitive.
    pub name: &'static str,
    /// `resourceAccess[].id` / `appRoleId`.
    pub id: Uuid,
    pub kind: PermissionKind,
    /// Whether an administrator must consent. Always true for application permissions; where the
    /// sources gave no flag the data says true (see the data file headers).
    pub admin_consent_required: bool,
}

/// A well-known resource application and the permissions the catalogue knows for it.
#[derive(Debug)]
pub struct Resource {
    /// The service principal's display name in a tenant.
    pub name: &'static str,
    pub app_id: Uuid,
    /// Other names accepted by [`resource`], matched case-insensitively.
    pub aliases: &'static [&'static str],
    /// The API no longer serves tokens; permissions on it must be refused.
    pub retired: bool,
    complete: bool,
    /// Sorted by (kind, name) so lookups can binary-search.
    permissions: Vec<Permission>,
    /// (name, Microsoft Graph equivalent); only the retired Azure AD Graph has entries.
    graph_equivalents: Vec<(&'static str, &'static str)>,
}

impl Resource {
    /// Every known permission, delegated ones first, each kind sorted by name.
    pub fn permissions(&self) -> impl Iterator<Item = &Permission> {
        self.permissions.iter()
    }

    /// The permission of this kind with exactly this name (case-sensitive, as Entra ID is).
    pub fn permission(&self, kind: PermissionKind, name: &str) -> Option<&Permission> {
        self.permissions
            .binary_search_by(|p| (p.kind, p.name).cmp(&(kind, name)))
            .ok()
            .map(|index| &self.permissions[index])
    }

    /// The permission of this kind with this id, e.g. to name an id read from a tenant.
    pub fn permission_by_id(&self, kind: PermissionKind, id: Uuid) -> Option<&Permission> {
        self.permissions
            .iter()
            .find(|p| p.kind == kind && p.id == id)
    }

    /// The kinds under which `name` exists (exact match); helps say "`User.Read` is delegated only".
    pub fn kinds_of(&self, name: &str) -> Vec<PermissionKind> {
        PermissionKind::ALL
            .into_iter()
            .filter(|kind| self.permission(*kind, name).is_some())
            .collect()
    }

    /// The closest known name of this kind for a name that is not in the catalogue: a name that
    /// differs only in case wins; otherwise the nearest by optimal-string-alignment distance
    /// (a transposition counts as one edit), compared case-insensitively, if it is within the
    /// threshold (1 edit for names up to 11 characters, 2 up to 17, 3 beyond). Ties go to the
    /// alphabetically first name so the answer is stable.
    pub fn suggest(&self, kind: PermissionKind, name: &str) -> Option<&str> {
        let of_kind = || self.permissions.iter().filter(move |p| p.kind == kind);
        if let Some(p) = of_kind().find(|p| p.name.eq_ignore_ascii_case(name)) {
            return Some(p.name);
        }
        let wanted = name.to_ascii_lowercase();
        let threshold = match wanted.chars().count() {
            0 => return None,
            1..=11 => 1,
            12..=17 => 2,
            _ => 3,
        };
        of_kind()
            .map(|p| {
                (
                    strsim::osa_distance(&wanted, &p.name.to_ascii_lowercase()),
                    p.name,
                )
            })
            .filter(|(distance, _)| *distance <= threshold)
            .min()
            .map(|(_, candidate)| candidate)
    }

    /// Whether the list is known to be complete, so that an unknown name is certainly wrong and
    /// may be rejected. False means an unknown name deserves a warning only: the list comes from
    /// third-party snapshots of the resource's service principal and may lag behind it.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// For the retired Azure AD Graph: the Microsoft Graph permission (same kind) that replaces
    /// `name`. None for other resources and for names the catalogue does not know.
    pub fn graph_equivalent(&self, name: &str) -> Option<&str> {
        self.graph_equivalents
            .iter()
            .find(|(old, _)| *old == name)
            .map(|(_, new)| *new)
    }
}

/// The four well-known resources: Microsoft Graph, Office 365 Exchange Online, Office 365
/// SharePoint Online and Windows Azure Active Directory (Azure AD Graph, retired).
pub fn well_known() -> &'static [Resource] {
    &WELL_KNOWN
}

/// Finds a well-known resource by display name or alias (case-insensitive) or by appId.
pub fn resource(name_or_app_id: &str) -> Option<&'static Resource> {
    let wanted = name_or_app_id.trim();
    if let Ok(app_id) = Uuid::parse_str(wanted) {
        return well_known().iter().find(|r| r.app_id == app_id);
    }
    well_known().iter().find(|r| {
        r.name.eq_ignore_ascii_case(wanted)
            || r.aliases.iter().any(|a| a.eq_ignore_ascii_case(wanted))
    })
}

struct Source {
    name: &'static str,
    app_id: Uuid,
    aliases: &'static [&'static str],
    retired: bool,
    complete: bool,
    data: &'static str,
}

const SOURCES: [Source; 4] = [
    Source {
        name: "Microsoft Graph",
        app_id: MICROSOFT_GRAPH_APP_ID,
        aliases: &["MicrosoftGraph"],
        retired: false,
        // Microsoft's own published catalogue of every Graph permission.
        complete: true,
        data: include_str!("data/microsoft-graph.tsv"),
    },
    Source {
        name: "Office 365 Exchange Online",
        app_id: EXCHANGE_ONLINE_APP_ID,
        aliases: &["Exchange Online"],
        retired: false,
        // A third-party dump of the service principal; new permissions appear without notice.
        complete: false,
        data: include_str!("data/exchange-online.tsv"),
    },
    Source {
        name: "Office 365 SharePoint Online",
        app_id: SHAREPOINT_ONLINE_APP_ID,
        aliases: &["SharePoint Online"],
        retired: false,
        // Same reasoning as Exchange Online.
        complete: false,
        data: include_str!("data/sharepoint-online.tsv"),
    },
    Source {
        name: "Windows Azure Active Directory",
        app_id: AZURE_AD_GRAPH_APP_ID,
        aliases: &["Azure AD Graph"],
        retired: true,
        // Only the classic names are listed; every permission on it is refused anyway.
        complete: false,
        data: include_str!("data/azure-ad-graph.tsv"),
    },
];

static WELL_KNOWN: LazyLock<Vec<Resource>> = LazyLock::new(|| SOURCES.iter().map(load).collect());

/// Parses one generated data file. The files are checked in and validated by the generator and by
/// the tests below, so a malformed line is a build defect and panics with its location.
fn load(source: &Source) -> Resource {
    let mut permissions = Vec::new();
    let mut graph_equivalents = Vec::new();
    let rows = source
        .data
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .skip(1); // column header
    for (index, line) in rows {
        let bad = |what: &str| -> ! {
            panic!(
                "catalogue data for {} line {}: {what}: {line:?}",
                source.name,
                index + 1
            )
        };
        let fields: Vec<&'static str> = line.split('\t').collect();
        let [kind, name, id, admin, equivalent] = fields[..] else {
            bad("expected 5 tab-separated columns")
        };
        let kind = PermissionKind::parse(kind).unwrap_or_else(|| bad("unknown kind"));
        let id = Uuid::parse_str(id).unwrap_or_else(|_| bad("bad id"));
        let admin_consent_required = match admin {
            "true" => true,
            "false" => false,
            _ => bad("admin_consent_required must be true or false"),
        };
        if equivalent != "-" && !graph_equivalents.iter().any(|(old, _)| *old == name) {
            graph_equivalents.push((name, equivalent));
        }
        permissions.push(Permission {
            name,
            id,
            kind,
            admin_consent_required,
        });
    }
    permissions.sort_by(|a, b| (a.kind, a.name).cmp(&(b.kind, b.name)));
    Resource {
        name: source.name,
        app_id: source.app_id,
        aliases: source.aliases,
        retired: source.retired,
        complete: source.complete,
        permissions,
        graph_equivalents,
    }
}

#[cfg(test)]
mod tests {
    use super::PermissionKind::{Application, Delegated};
    use super::*;
    use std::collections::HashSet;

    fn graph() -> &'static Resource {
        resource("Microsoft Graph").expect("Microsoft Graph is well known")
    }

    fn uuid(text: &str) -> Uuid {
        Uuid::parse_str(text).unwrap()
    }

    #[test]
    fn known_ids() {
        let cases = [
            (
                "Microsoft Graph",
                Delegated,
                "User.Read",
                "e1fe6dd8-ba31-4d61-89e7-88639da4683d",
                false,
                "the most common scope",
            ),
            (
                "Microsoft Graph",
                Application,
                "User.Read.All",
                "df021288-bdef-4463-88db-98f22de89214",
                true,
                "app role, admin consent by definition",
            ),
            (
                "Microsoft Graph",
                Delegated,
                "offline_access",
                "7427e0e9-2fba-42fe-b0c0-848c9e6a8182",
                false,
                "OpenID Connect scopes are in the Graph list",
            ),
            (
                "Microsoft Graph",
                Delegated,
                "Directory.AccessAsUser.All",
                "0e263e50-5827-48a4-b97c-d940288653c7",
                true,
                "isAdmin carried over",
            ),
            (
                "Microsoft Graph",
                Application,
                "Application.ReadWrite.OwnedBy",
                "18a4783c-866b-4cc7-a460-3d5e5662c884",
                true,
                "application-only permission",
            ),
            (
                "Office 365 Exchange Online",
                Application,
                "full_access_as_app",
                "dc890d15-9560-4a4c-9b7f-a736ec74ec40",
                true,
                "id documented by Microsoft for EWS",
            ),
            (
                "Office 365 Exchange Online",
                Delegated,
                "EWS.AccessAsUser.All",
                "3b5f3d61-589b-4a3c-a359-5dd4b5ee5bd5",
                true,
                "Exchange's own id, not Graph's 9769c687",
            ),
            (
                "Office 365 SharePoint Online",
                Application,
                "Sites.FullControl.All",
                "678536fe-1083-478a-9c59-b99265e6b0d3",
                true,
                "SharePoint's id, not Graph's a82116e5",
            ),
            (
                "Office 365 SharePoint Online",
                Delegated,
                "AllSites.Read",
                "4e0d77b0-96ba-4398-af14-3baa780278f4",
                false,
                "user-consentable SharePoint scope",
            ),
            (
                "Windows Azure Active Directory",
                Application,
                "Directory.Read.All",
                "5778995a-e1bf-45b8-affa-663a9f3f4d04",
                true,
                "Azure AD Graph id differs from Graph's",
            ),
        ];
        for (resource_name, kind, name, id, admin, why) in cases {
            let found = resource(resource_name)
                .and_then(|r| r.permission(kind, name))
                .unwrap_or_else(|| panic!("{resource_name} {kind} {name} missing ({why})"));
            assert_eq!(found.id, uuid(id), "{name}: {why}");
            assert_eq!(found.kind, kind, "{name}: {why}");
            assert_eq!(found.admin_consent_required, admin, "{name}: {why}");
        }
    }

    #[test]
    fn lookup_is_exact_and_kind_specific() {
        let cases = [
            (Delegated, "User.Read", true, "exists as a delegated scope"),
            (
                Application,
                "User.Read",
                false,
                "kind mismatch: User.Read has no app role",
            ),
            (Delegated, "user.read", false, "names are case-sensitive"),
            (Delegated, " User.Read", false, "no trimming"),
            (
                Application,
                "Application.ReadWrite.OwnedBy",
                true,
                "exists as an app role",
            ),
            (
                Delegated,
                "Application.ReadWrite.OwnedBy",
                false,
                "kind mismatch: no delegated scope",
            ),
        ];
        for (kind, name, expected, why) in cases {
            assert_eq!(
                graph().permission(kind, name).is_some(),
                expected,
                "{kind} {name}: {why}"
            );
        }
        assert_eq!(
            graph().kinds_of("User.Read"),
            [Delegated],
            "User.Read is delegated only"
        );
        assert_eq!(
            graph().kinds_of("Mail.Send"),
            [Delegated, Application],
            "Mail.Send has both"
        );
    }

    #[test]
    fn permission_by_id() {
        let read =
            graph().permission_by_id(Delegated, uuid("e1fe6dd8-ba31-4d61-89e7-88639da4683d"));
        assert_eq!(
            read.map(|p| p.name),
            Some("User.Read"),
            "ids name permissions read from a tenant"
        );
        let wrong_kind =
            graph().permission_by_id(Application, uuid("e1fe6dd8-ba31-4d61-89e7-88639da4683d"));
        assert!(wrong_kind.is_none(), "a scope id is not an app role id");
    }

    #[test]
    fn suggestions() {
        let exchange = resource("Exchange Online").unwrap();
        let cases = [
            (
                graph(),
                Delegated,
                "Calendars.ReadWirte",
                Some("Calendars.ReadWrite"),
                "transposed letters",
            ),
            (
                graph(),
                Delegated,
                "user.read",
                Some("User.Read"),
                "wrong case only",
            ),
            (
                graph(),
                Delegated,
                "User.Read.Al",
                Some("User.Read.All"),
                "dropped letter",
            ),
            (
                graph(),
                Application,
                "Mail.Sned",
                Some("Mail.Send"),
                "transposition in a short name",
            ),
            (
                graph(),
                Delegated,
                "Files.ReadWrite.Everything",
                None,
                "too far from anything",
            ),
            (
                graph(),
                Application,
                "User.Read",
                None,
                "kind mismatch is not a typo: no close app role",
            ),
            (graph(), Delegated, "", None, "empty name"),
            (
                exchange,
                Application,
                "full_acess_as_app",
                Some("full_access_as_app"),
                "Exchange names too",
            ),
        ];
        for (res, kind, name, expected, why) in cases {
            assert_eq!(
                res.suggest(kind, name),
                expected,
                "{} {kind} {name:?}: {why}",
                res.name
            );
        }
    }

    #[test]
    fn resource_lookup() {
        let cases = [
            (
                "Microsoft Graph",
                Some(MICROSOFT_GRAPH_APP_ID),
                "display name",
            ),
            (
                "microsoft graph",
                Some(MICROSOFT_GRAPH_APP_ID),
                "case-insensitive",
            ),
            ("MicrosoftGraph", Some(MICROSOFT_GRAPH_APP_ID), "alias"),
            (
                "00000003-0000-0000-c000-000000000000",
                Some(MICROSOFT_GRAPH_APP_ID),
                "appId",
            ),
            (
                "00000003-0000-0000-C000-000000000000",
                Some(MICROSOFT_GRAPH_APP_ID),
                "appId in upper case",
            ),
            (
                "Office 365 Exchange Online",
                Some(EXCHANGE_ONLINE_APP_ID),
                "display name",
            ),
            ("exchange online", Some(EXCHANGE_ONLINE_APP_ID), "alias"),
            ("SharePoint Online", Some(SHAREPOINT_ONLINE_APP_ID), "alias"),
            (
                "00000003-0000-0ff1-ce00-000000000000",
                Some(SHAREPOINT_ONLINE_APP_ID),
                "appId",
            ),
            (
                "Windows Azure Active Directory",
                Some(AZURE_AD_GRAPH_APP_ID),
                "display name",
            ),
            ("Azure AD Graph", Some(AZURE_AD_GRAPH_APP_ID), "alias"),
            (
                "Graph",
                None,
                "ambiguous between Microsoft Graph and Azure AD Graph",
            ),
            (
                "11111111-0000-0000-c000-000000000000",
                None,
                "unknown appId",
            ),
            ("Dynamics CRM", None, "not a well-known resource"),
        ];
        for (query, expected, why) in cases {
            assert_eq!(
                resource(query).map(|r| r.app_id),
                expected,
                "{query:?}: {why}"
            );
        }
    }

    #[test]
    fn resource_flags() {
        let cases = [
            (
                "Microsoft Graph",
                false,
                true,
                "Microsoft's own full catalogue: unknown names are errors",
            ),
            (
                "Office 365 Exchange Online",
                false,
                false,
                "third-party snapshot: warn only",
            ),
            (
                "Office 365 SharePoint Online",
                false,
                false,
                "third-party snapshot: warn only",
            ),
            (
                "Windows Azure Active Directory",
                true,
                false,
                "retired; refused whatever the name",
            ),
        ];
        for (name, retired, complete, why) in cases {
            let r = resource(name).unwrap();
            assert_eq!(
                (r.retired, r.is_complete()),
                (retired, complete),
                "{name}: {why}"
            );
        }
        assert_eq!(well_known().len(), 4);
    }

    #[test]
    fn counts_match_the_generated_data() {
        // Microsoft Graph counts equal the enabled entries of permissions-descriptions.json at the
        // snapshot in tools/catalogue/README.md; the others are the hand-maintained inputs.
        let cases = [
            ("Microsoft Graph", 598, 534),
            ("Office 365 Exchange Online", 54, 27),
            ("Office 365 SharePoint Online", 19, 9),
            ("Windows Azure Active Directory", 10, 9),
        ];
        for (name, delegated, application) in cases {
            let r = resource(name).unwrap();
            let count = |kind| r.permissions().filter(|p| p.kind == kind).count();
            assert_eq!(
                (count(Delegated), count(Application)),
                (delegated, application),
                "{name}"
            );
        }
    }

    #[test]
    fn data_is_well_formed() {
        for r in well_known() {
            let mut names = HashSet::new();
            let mut ids = HashSet::new();
            for p in r.permissions() {
                assert!(
                    names.insert((p.kind, p.name)),
                    "{}: duplicate {} {}",
                    r.name,
                    p.kind,
                    p.name
                );
                assert!(
                    ids.insert((p.kind, p.id)),
                    "{}: duplicate {} id {}",
                    r.name,
                    p.kind,
                    p.id
                );
                assert!(!p.id.is_nil(), "{}: nil id for {}", r.name, p.name);
                if p.kind == Application {
                    assert!(
                        p.admin_consent_required,
                        "{}: app role {} must need admin consent",
                        r.name, p.name
                    );
                }
            }
        }
    }

    #[test]
    fn azure_ad_graph_equivalents_exist_in_graph() {
        let aad = resource("Azure AD Graph").unwrap();
        for p in aad.permissions() {
            let equivalent = aad
                .graph_equivalent(p.name)
                .unwrap_or_else(|| panic!("{} has no Microsoft Graph equivalent", p.name));
            assert!(
                graph().permission(p.kind, equivalent).is_some(),
                "{} {} maps to {equivalent}, which Microsoft Graph lacks as {}",
                p.kind,
                p.name,
                p.kind
            );
        }
        let cases = [
            (
                "Directory.Read.All",
                Some("Directory.Read.All"),
                "classic name kept",
            ),
            (
                "Member.Read.Hidden",
                Some("Member.Read.Hidden"),
                "classic name kept",
            ),
            ("Directory.Read", None, "unknown to the catalogue"),
        ];
        for (name, expected, why) in cases {
            assert_eq!(aad.graph_equivalent(name), expected, "{name}: {why}");
        }
        assert_eq!(
            graph().graph_equivalent("User.Read"),
            None,
            "only retired resources map"
        );
    }
}
