//! Permission rules that depend on what a permission *does*, not on whether its name exists:
//! high-privilege application permissions and their acknowledgements, and permissions on APIs
//! Microsoft is retiring or has retired.
//!
//! Why it is separate from the name checks in `validate`: these rules come from the catalogue's
//! rule, privilege and lifecycle data, take the day they are judged on (never the machine's clock;
//! the caller passes it), and will grow with policy overrides.
//!
//! What it must never do: report a name the catalogue does not know (the name check already has),
//! or let an acknowledgement silence anything but the one permission it names.

use chrono::NaiveDate;
use uuid::Uuid;

use super::AppSource;
use crate::catalogue::rules::{self, Level, Rule};
use crate::catalogue::{self, PermissionKind, lifecycle::Stage};
use crate::manifest::diagnostic::{Diagnostic, Severity};
use crate::manifest::source::Location;
use crate::manifest::wire::{self, AcknowledgedRule, Acknowledgement};
use crate::manifest::yaml::Step;

/// One permission the app requests, with where it is written.
struct Requested<'a> {
    /// The resource as the manifest wrote it.
    resource: &'a str,
    /// The resource's appId when it is a well-known resource.
    app_id: Option<Uuid>,
    kind: PermissionKind,
    name: &'a str,
    path: Vec<Step>,
}

/// Checks one app's permissions against the privilege and lifecycle data, as of `today`.
pub fn check(source: &AppSource, today: NaiveDate, out: &mut Vec<Diagnostic>) {
    let requested = requested(source);
    let acknowledged = check_acknowledgements(source, &requested, out);
    for permission in &requested {
        let Some(app_id) = permission.app_id else {
            continue;
        };
        if let Some(retirement) =
            catalogue::lifecycle::retirement(app_id, permission.kind, permission.name)
        {
            let (rule, label) = match retirement.stage(today) {
                Stage::Retired => (&rules::RETIRED_API, "retired API"),
                Stage::Announced | Stage::Restricted => (&rules::RETIRING_API, "retiring API"),
            };
            out.push(
                finding(
                    rule,
                    at(source, &permission.path),
                    retirement.describe(permission.name, today),
                )
                .with_label(label)
                .with_help(retirement.help(permission.kind, permission.name)),
            );
        }
        if let Some(listed) =
            catalogue::privilege::high_privilege(app_id, permission.kind, permission.name)
            && !acknowledged
                .iter()
                .any(|&i| covers(&source.app.acknowledge[i], permission))
        {
            let consent = match &source.app.admin_consent {
                Some(wire::AdminConsent::All(true)) => "`adminConsent: true` grants it tenant-wide",
                Some(wire::AdminConsent::Granted(granted))
                    if granted
                        .get(permission.resource)
                        .is_some_and(|p| p.application.iter().any(|n| n == permission.name)) =>
                {
                    "`adminConsent` lists it, so it is granted tenant-wide"
                }
                _ => "an administrator's consent would grant it tenant-wide",
            };
            let message = format!(
                "`{}` is a high-privilege application permission of {}: {}; {consent}",
                permission.name, listed.resource, listed.why
            );
            let help = format!(
                "request a narrower permission, or acknowledge this one on the app: `acknowledge: [{{rule: {}, permission: \"{}/{}\", reason: \"...\"}}]`",
                rules::HIGH_PRIVILEGE_PERMISSION.id,
                permission.resource,
                permission.name
            );
            out.push(
                finding(
                    &rules::HIGH_PRIVILEGE_PERMISSION,
                    at(source, &permission.path),
                    message,
                )
                .with_label("high privilege")
                .with_help(help),
            );
        }
    }
}

/// Every permission the app requests, in manifest order.
fn requested<'a>(source: &'a AppSource) -> Vec<Requested<'a>> {
    let mut out = Vec::new();
    for (resource, lists) in &source.app.permissions {
        let app_id = catalogue::resource(resource).map(|r| r.app_id);
        for (kind, field, names) in [
            (PermissionKind::Delegated, "delegated", &lists.delegated),
            (
                PermissionKind::Application,
                "application",
                &lists.application,
            ),
        ] {
            for (i, name) in names.iter().enumerate() {
                out.push(Requested {
                    resource,
                    app_id,
                    kind,
                    name,
                    path: vec![
                        Step::Key("permissions".into()),
                        Step::Key(resource.clone()),
                        Step::Key(field.into()),
                        Step::Index(i),
                    ],
                });
            }
        }
    }
    out
}

/// Reports acknowledgements that cannot be read or cover nothing the app requests; returns the
/// indexes of the ones that may silence a finding.
fn check_acknowledgements(
    source: &AppSource,
    requested: &[Requested],
    out: &mut Vec<Diagnostic>,
) -> Vec<usize> {
    let mut usable = Vec::new();
    for (i, acknowledgement) in source.app.acknowledge.iter().enumerate() {
        let path = |field: &str| {
            vec![
                Step::Key("acknowledge".into()),
                Step::Index(i),
                Step::Key(field.into()),
            ]
        };
        let mut readable = true;
        if split(&acknowledgement.permission).is_none() {
            readable = false;
            out.push(
                finding(
                    &rules::BAD_ACKNOWLEDGEMENT,
                    at(source, &path("permission")),
                    format!(
                        "`{}` does not name a permission as `<resource>/<permission>`",
                        acknowledgement.permission
                    ),
                )
                .with_label("not `<resource>/<permission>`")
                .with_help(format!(
                    "write it as under `permissions`, e.g. `Microsoft Graph/{}`",
                    acknowledgement.permission.trim_matches('/')
                )),
            );
        }
        if acknowledgement.reason.trim().is_empty() {
            readable = false;
            out.push(
                finding(
                    &rules::BAD_ACKNOWLEDGEMENT,
                    at(source, &path("reason")),
                    "an acknowledgement needs a reason",
                )
                .with_label("no reason")
                .with_help("say why the app needs the permission and how its reach is limited"),
            );
        }
        if !readable {
            continue;
        }
        if requested.iter().any(|r| covers(acknowledgement, r)) {
            usable.push(i);
        } else {
            out.push(
                finding(
                    &rules::STALE_ACKNOWLEDGEMENT,
                    at(source, &path("permission")),
                    format!(
                        "the acknowledgement of `{}` covers no application permission this app requests",
                        acknowledgement.permission
                    ),
                )
                .with_label("requested nowhere")
                .with_help(rules::STALE_ACKNOWLEDGEMENT.fix),
            );
        }
    }
    usable
}

/// `Resource/Permission` split at the last slash (resource names have none, permission names
/// neither); None unless both parts are there.
fn split(text: &str) -> Option<(&str, &str)> {
    let (resource, name) = text.rsplit_once('/')?;
    let (resource, name) = (resource.trim(), name.trim());
    (!resource.is_empty() && !name.is_empty()).then_some((resource, name))
}

/// Whether the acknowledgement names this requested application permission. The resource may
/// be written another way than under `permissions` (`Microsoft Graph` or its appId).
fn covers(acknowledgement: &Acknowledgement, permission: &Requested) -> bool {
    // Only the high-privilege rule can be acknowledged today; a second rule makes this a compile
    // error, so its acknowledgements cannot silence this one by accident.
    let AcknowledgedRule::HighPrivilegePermission = acknowledgement.rule;
    let Some((resource, name)) = split(&acknowledgement.permission) else {
        return false;
    };
    permission.kind == PermissionKind::Application
        && name == permission.name
        && (resource.eq_ignore_ascii_case(permission.resource)
            || permission
                .app_id
                .is_some_and(|id| catalogue::resource(resource).map(|r| r.app_id) == Some(id)))
}

/// A diagnostic of `rule`, at its default level.
fn finding(rule: &'static Rule, location: Location, message: impl Into<String>) -> Diagnostic {
    let diagnostic = Diagnostic::error(rule.id, Some(location), message);
    match rule.level {
        Level::Error => diagnostic,
        Level::Warning => Diagnostic {
            severity: Severity::Warning,
            ..diagnostic
        },
    }
}

/// The location of the value at `path` in the app, or of its nearest ancestor that exists.
fn at(source: &AppSource, path: &[Step]) -> Location {
    let span = (0..=path.len())
        .rev()
        .find_map(|n| source.node.at(&path[..n]).map(|node| node.span.clone()))
        .unwrap_or_else(|| source.key_span.clone());
    Location {
        file: source.file.clone(),
        span,
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use crate::manifest::diagnostic::{Diagnostic, Severity};

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    /// Every diagnostic of one app `a` whose body is `app`, judged on `today`, as
    /// (code, severity, line:column, message, help).
    fn report(app: &str, today: &str) -> Vec<(String, Severity, String, String, String)> {
        let mut text = "version: 1\nname: t\napps:\n  a:\n    displayName: A\n".to_string();
        for line in app.lines() {
            text.push_str("    ");
            text.push_str(line);
            text.push('\n');
        }
        let diagnostics: Vec<Diagnostic> = match crate::manifest::load_bytes_on(
            std::path::Path::new("m.yaml"),
            text.as_bytes(),
            &|_: &str| None,
            day(today),
        ) {
            Ok(loaded) => loaded.warnings,
            Err(invalid) => invalid.diagnostics,
        };
        diagnostics
            .into_iter()
            .map(|d| {
                let (line, column) = d.location.as_ref().unwrap().line_col();
                (
                    d.code.to_string(),
                    d.severity,
                    format!("{line}:{column}"),
                    d.message,
                    d.help.unwrap_or_default(),
                )
            })
            .collect()
    }

    #[test]
    fn retirements_before_and_after_each_date() {
        // (permissions, day, code, severity, words in the message, replacement in the help, why)
        let ews_app =
            "permissions:\n  Office 365 Exchange Online:\n    application: [full_access_as_app]";
        let ews_graph = "permissions:\n  Microsoft Graph:\n    delegated: [EWS.AccessAsUser.All]";
        let aad = "permissions:\n  Windows Azure Active Directory:\n    delegated: [User.Read]";
        let rest =
            "permissions:\n  Office 365 Exchange Online:\n    delegated: [Calendars.ReadWrite]";
        let cases = [
            (
                ews_app,
                "2026-09-30",
                "retiring-api",
                Severity::Warning,
                "from 2026-10-01",
                "Calendars.ReadWrite",
                "EWS announced",
            ),
            (
                ews_app,
                "2026-10-01",
                "retiring-api",
                Severity::Warning,
                "since 2026-10-01",
                "RBAC for Applications",
                "EWS blocked by default",
            ),
            (
                ews_app,
                "2027-03-31",
                "retiring-api",
                Severity::Warning,
                "off for good on 2027-04-01",
                "Calendars.ReadWrite",
                "EWS, the last day",
            ),
            (
                ews_app,
                "2027-04-01",
                "retired-api",
                Severity::Error,
                "retired on 2027-04-01",
                "Calendars.ReadWrite",
                "EWS switched off",
            ),
            (
                ews_graph,
                "2026-06-01",
                "retiring-api",
                Severity::Warning,
                "from 2026-10-01",
                "Mail.ReadWrite",
                "the EWS scope Microsoft Graph publishes too",
            ),
            (
                ews_graph,
                "2027-04-02",
                "retired-api",
                Severity::Error,
                "retired on 2027-04-01",
                "Mail.ReadWrite",
                "and is retired with EWS",
            ),
            (
                aad,
                "2025-01-31",
                "retiring-api",
                Severity::Warning,
                "from 2025-02-01",
                "`User.Read` from `Microsoft Graph`",
                "Azure AD Graph before its first step",
            ),
            (
                aad,
                "2025-06-30",
                "retiring-api",
                Severity::Warning,
                "since 2025-02-01",
                "`User.Read` from `Microsoft Graph`",
                "Azure AD Graph on extended access",
            ),
            (
                aad,
                "2025-07-01",
                "retired-api",
                Severity::Error,
                "retired on 2025-07-01",
                "`User.Read` from `Microsoft Graph`",
                "Azure AD Graph retired",
            ),
            (
                rest,
                "2024-03-30",
                "retiring-api",
                Severity::Warning,
                "off for good on 2024-03-31",
                "`Calendars.ReadWrite` from `Microsoft Graph`",
                "Outlook REST before its end",
            ),
            (
                rest,
                "2024-03-31",
                "retired-api",
                Severity::Error,
                "retired on 2024-03-31",
                "`Calendars.ReadWrite` from `Microsoft Graph`",
                "Outlook REST decommissioned",
            ),
        ];
        for (app, today, code, severity, words, replacement, why) in cases {
            // full_access_as_app is also high-privilege; that rule has its own test.
            let found: Vec<_> = report(app, today)
                .into_iter()
                .filter(|f| f.0.starts_with("retir"))
                .collect();
            let [(got_code, got_severity, at, message, help)] = &found[..] else {
                panic!("{why}: one finding expected: {found:#?}");
            };
            assert_eq!(
                (got_code.as_str(), *got_severity),
                (code, severity),
                "{why}"
            );
            let name = app.rsplit('[').next().unwrap().trim_end_matches(']');
            let column = app.lines().nth(2).unwrap().find(name).unwrap() + 5;
            assert_eq!(at, &format!("8:{column}"), "{why}: at `{name}`");
            assert!(message.contains(words), "{why}: {message}");
            assert!(help.contains(replacement), "{why}: {help}");
        }
    }

    #[test]
    fn supported_permissions_are_quiet() {
        let app = "permissions:\n  Microsoft Graph:\n    delegated: [User.Read, Mail.Send]\n    application: [User.Read.All]\n  Office 365 Exchange Online:\n    delegated: [IMAP.AccessAsUser.All]\n    application: [SMTP.SendAsApp]\nadminConsent: true";
        assert_eq!(report(app, "2030-01-01"), vec![]);
    }

    #[test]
    fn high_privilege_permissions_and_acknowledgements() {
        let role = "permissions:\n  Microsoft Graph:\n    application: [RoleManagement.ReadWrite.Directory]\nadminConsent: true\n";
        let ack = |permission: &str, reason: &str| {
            format!(
                "{role}acknowledge:\n  - rule: high-privilege-permission\n    permission: \"{permission}\"\n    reason: \"{reason}\"\n"
            )
        };
        let codes = |app: &str| -> Vec<(String, Severity, String)> {
            report(app, "2026-12-07")
                .into_iter()
                .map(|(code, severity, at, _, _)| (code, severity, at))
                .collect()
        };
        let flagged = || {
            (
                "high-privilege-permission".to_string(),
                Severity::Warning,
                "8:23".to_string(),
            )
        };
        // (manifest, findings, why)
        let cases = [
            (
                role.to_string(),
                vec![flagged()],
                "tier 0 with consent: flagged at the permission",
            ),
            (
                ack(
                    "Microsoft Graph/RoleManagement.ReadWrite.Directory",
                    "Helpdesk role provisioning.",
                ),
                vec![],
                "acknowledged by name",
            ),
            (
                ack(
                    "microsoft graph/RoleManagement.ReadWrite.Directory",
                    "Helpdesk.",
                ),
                vec![],
                "the resource is matched case-insensitively",
            ),
            (
                ack(
                    "00000003-0000-0000-c000-000000000000/RoleManagement.ReadWrite.Directory",
                    "Helpdesk.",
                ),
                vec![],
                "or by its appId",
            ),
            (
                ack(
                    "Microsoft Graph/roleManagement.ReadWrite.Directory",
                    "Helpdesk.",
                ),
                vec![
                    flagged(),
                    (
                        "stale-acknowledgement".into(),
                        Severity::Warning,
                        "12:21".into(),
                    ),
                ],
                "permission names are case-sensitive, as in Entra ID",
            ),
            (
                ack("Microsoft Graph/Application.ReadWrite.All", "Old."),
                vec![
                    flagged(),
                    (
                        "stale-acknowledgement".into(),
                        Severity::Warning,
                        "12:21".into(),
                    ),
                ],
                "an acknowledgement of another permission covers nothing and is stale",
            ),
            (
                ack("RoleManagement.ReadWrite.Directory", "Helpdesk."),
                vec![
                    flagged(),
                    (
                        "bad-acknowledgement".into(),
                        Severity::Error,
                        "12:21".into(),
                    ),
                ],
                "no resource part",
            ),
            (
                ack("Microsoft Graph/RoleManagement.ReadWrite.Directory", "  "),
                vec![
                    flagged(),
                    (
                        "bad-acknowledgement".into(),
                        Severity::Error,
                        "13:17".into(),
                    ),
                ],
                "a blank reason acknowledges nothing",
            ),
            (
                "permissions:\n  Microsoft Graph:\n    delegated: [Directory.ReadWrite.All]\n"
                    .to_string(),
                vec![],
                "delegated permissions are bounded by the user",
            ),
        ];
        for (app, expected, why) in cases {
            assert_eq!(codes(&app), expected, "{why}\n{app}");
        }
        // A misspelt rule is a schema error with a suggestion, and acknowledges nothing.
        let misspelt = ack(
            "Microsoft Graph/RoleManagement.ReadWrite.Directory",
            "Helpdesk.",
        )
        .replace(
            "rule: high-privilege-permission",
            "rule: high-privilege-permisson",
        );
        let found = report(&misspelt, "2026-12-07");
        assert_eq!(
            (found[0].0.as_str(), found[0].2.as_str()),
            ("unknown-value", "11:15"),
            "{found:#?}"
        );
        assert!(
            found[0]
                .4
                .contains("did you mean `high-privilege-permission`")
        );
        let (_, _, _, message, help) = report(role, "2026-12-07").remove(0);
        assert!(
            message.contains("Global Administrator") && message.contains("adminConsent: true"),
            "{message}"
        );
        assert!(
            help.contains("Microsoft Graph/RoleManagement.ReadWrite.Directory"),
            "{help}"
        );
        let unconsented = role.replace("adminConsent: true\n", "");
        let (_, _, _, message, _) = report(&unconsented, "2026-12-07").remove(0);
        assert!(
            message.contains("consent would grant it"),
            "without consent the warning says so: {message}"
        );
    }
}
