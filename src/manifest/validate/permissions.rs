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
use crate::manifest::wire::{AcknowledgedRule, Acknowledgement};
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
            let consent = if source.app.admin_consent == Some(true) {
                "`adminConsent: true` grants it tenant-wide"
            } else {
                "an administrator's consent would grant it tenant-wide"
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
