//! The `policy:` section: read it into the policy the rules obey, and check each app against the
//! rules a policy switches on for manifests (credentials, owners, redirects, tags), then apply
//! the policy's levels and allowances to everything reported about the app.
//!
//! Why it is separate: these rules exist only where a manifest states a policy (a manifest without
//! one keeps the checks it always had), and levels and allowances must reach every rule's finding,
//! whichever module reported it.
//!
//! What it must never do: accept an allowance without a justification, or let an allowance for
//! one app or subject silence another.

use std::sync::Arc;

use super::AppSource;
use crate::catalogue::rules::{self, Level, Rule};
use crate::manifest::diagnostic::{Diagnostic, Severity, closest};
use crate::manifest::source::{Location, SourceFile};
use crate::manifest::wire::{self, PolicyLevel, SignInAudience};
use crate::manifest::yaml::{Node, Step};
use crate::model::Period;
use crate::model::policy::{self, Allowance, Policy, is_localhost};

/// Code of a policy that cannot be read (an unknown rule, a bad duration, no justification).
pub const BAD_POLICY: &str = "bad-policy";

/// Reads the policy section of `file` (whose root is `root`) into a policy, reporting what is
/// wrong at its position.
pub fn resolve(
    section: &wire::Policy,
    file: &Arc<SourceFile>,
    root: &Node,
    out: &mut Vec<Diagnostic>,
) -> Policy {
    let here = |path: &[Step]| {
        let mut full = vec![Step::Key("policy".into())];
        full.extend_from_slice(path);
        let span = (0..=full.len())
            .rev()
            .find_map(|n| root.at(&full[..n]).map(|node| node.span.clone()))
            .unwrap_or(0..0);
        Some(Location {
            file: file.clone(),
            span,
        })
    };
    let known = || rules::RULES.iter().map(|r| r.id);
    let unknown_rule = |id: &str, path: &[Step], out: &mut Vec<Diagnostic>| {
        if rules::rule(id).is_some() {
            return false;
        }
        let mut d = Diagnostic::error(BAD_POLICY, here(path), format!("`{id}` is not a rule id"))
            .with_label("unknown rule");
        d = match closest(id, known()) {
            Some(near) => d.with_help(format!(
                "did you mean `{near}`? docs/rules.md lists every rule"
            )),
            None => d.with_help("docs/rules.md lists every rule"),
        };
        out.push(d);
        true
    };
    let mut policy = Policy::default();
    for (field, text, target) in [
        (
            "maxSecretLifetime",
            &section.max_secret_lifetime,
            &mut policy.max_secret_lifetime,
        ),
        (
            "maxSecretAge",
            &section.max_secret_age,
            &mut policy.max_secret_age,
        ),
        (
            "expiryWarning",
            &section.expiry_warning,
            &mut policy.expiry_warning,
        ),
    ] {
        let Some(text) = text else { continue };
        match Period::parse(text) {
            Ok(period) if !period.is_zero() => *target = period,
            Ok(_) => out.push(
                Diagnostic::error(
                    BAD_POLICY,
                    here(&[Step::Key(field.into())]),
                    format!("`{field}` is zero"),
                )
                .with_label("zero")
                .with_help("give a positive period such as `180d`"),
            ),
            Err(e) => out.push(
                Diagnostic::error(
                    BAD_POLICY,
                    here(&[Step::Key(field.into())]),
                    format!("`{field}`: {e}"),
                )
                .with_label("not a period"),
            ),
        }
    }
    policy.production = section.production == Some(true);
    policy.require_owners = section.require_owners == Some(true);
    policy.required_tags = section.required_tags.clone();
    for (id, level) in &section.rules {
        if unknown_rule(id, &[Step::Key("rules".into()), Step::Key(id.clone())], out) {
            continue;
        }
        let level = match level {
            PolicyLevel::Off => None,
            PolicyLevel::Warning => Some(Level::Warning),
            PolicyLevel::Error => Some(Level::Error),
        };
        policy.levels.insert(id.clone(), level);
    }
    for (i, allowance) in section.allow.iter().enumerate() {
        let path = [Step::Key("allow".into()), Step::Index(i)];
        if unknown_rule(
            &allowance.rule,
            &[path[0].clone(), path[1].clone(), Step::Key("rule".into())],
            out,
        ) {
            continue;
        }
        if allowance.justification.trim().is_empty() {
            out.push(
                Diagnostic::error(
                    BAD_POLICY,
                    here(&path),
                    "an allowance needs a justification",
                )
                .with_label("no justification")
                .with_help("say why the finding is accepted: `justification: \"...\"`"),
            );
            continue;
        }
        policy.allow.push(Allowance {
            rule: allowance.rule.clone(),
            app: allowance.app.clone(),
            subject: allowance.subject.clone(),
            justification: allowance.justification.clone(),
        });
    }
    policy
}

/// Checks one app against the manifest rules a policy switches on.
pub fn check(source: &AppSource, policy: &Policy, out: &mut Vec<Diagnostic>) {
    let app = source.app;
    let key = |k: &str| Step::Key(k.into());
    let mut report = |rule: &'static Rule, path: &[Step], message: String, label: &str| {
        out.push(
            finding(rule, at(source, path), message)
                .with_label(label)
                .with_help(rule.fix),
        );
    };
    for (i, secret) in app.secrets.iter().enumerate() {
        let lifetime = secret
            .lifetime
            .as_deref()
            .map_or(Ok(Period::days(180)), Period::parse);
        if let Ok(lifetime) = lifetime
            && policy::longer(&lifetime, &policy.max_secret_lifetime)
        {
            report(
                &rules::SECRET_LIFETIME,
                &[key("secrets"), Step::Index(i), key("lifetime")],
                format!(
                    "secret `{}` is valid longer than the policy's maxSecretLifetime",
                    secret.name
                ),
                "too long",
            );
        }
    }
    let multitenant = !matches!(
        app.sign_in_audience,
        None | Some(SignInAudience::AzureADMyOrg)
    );
    if multitenant && !app.secrets.is_empty() {
        report(
            &rules::MULTITENANT_SECRET,
            &[key("secrets")],
            "the app accepts other organisations and authenticates with a client secret".into(),
            "secret on a multitenant app",
        );
    }
    if app.owners.is_empty() {
        report(
            &rules::NO_OWNER,
            &[],
            format!("app `{}` names no owner", source.key),
            "no owners",
        );
    }
    if let Some(grant) = app.web.as_ref().and_then(|w| w.implicit_grant.as_ref())
        && (grant.access_tokens || grant.id_tokens)
    {
        report(
            &rules::IMPLICIT_GRANT,
            &[key("web"), key("implicitGrant")],
            "the implicit grant is enabled".into(),
            "implicit grant",
        );
    }
    for (platform, uris) in [
        ("web", app.web.as_ref().map(|w| &w.redirect_uris)),
        ("spa", app.spa.as_ref().map(|s| &s.redirect_uris)),
        (
            "publicClient",
            app.public_client.as_ref().map(|p| &p.redirect_uris),
        ),
    ] {
        for (i, uri) in uris.into_iter().flatten().enumerate() {
            let path = [key(platform), key("redirectUris"), Step::Index(i)];
            if uri.contains('*') {
                report(
                    &rules::WILDCARD_REDIRECT,
                    &path,
                    format!("redirect URI `{uri}` has a wildcard"),
                    "wildcard",
                );
            }
            if policy.production && is_localhost(uri) {
                report(
                    &rules::LOCALHOST_REDIRECT,
                    &path,
                    format!("redirect URI `{uri}` is on localhost in a production set"),
                    "localhost",
                );
            }
        }
    }
    if let Some(tag) = policy.missing_tag(&app.tags) {
        report(
            &rules::MISSING_TAG,
            &[key("tags")],
            format!(
                "app `{}` lacks the tag `{tag}` the policy requires",
                source.key
            ),
            "missing tag",
        );
    }
}

/// Applies the policy's levels and allowances to the findings reported about app `key`.
pub fn enforce(policy: &Policy, key: &str, findings: &mut Vec<Diagnostic>) {
    findings.retain_mut(|d| {
        let Some(rule) = rules::rule(d.code) else {
            return true;
        };
        if policy
            .allowance(rule.id, &[key], subject_of(&d.message))
            .is_some()
        {
            return false;
        }
        match policy.level(rule) {
            None => false,
            Some(level) => {
                d.severity = severity(level);
                true
            }
        }
    });
}

/// The first backquoted name of a message: the permission, secret or URI the finding is about.
fn subject_of(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(&message[start..end])
}

fn severity(level: Level) -> Severity {
    match level {
        Level::Error => Severity::Error,
        Level::Warning => Severity::Warning,
    }
}

/// A diagnostic of `rule` at its default level (the policy may change it in `enforce`).
fn finding(rule: &'static Rule, location: Location, message: String) -> Diagnostic {
    let mut d = Diagnostic::error(rule.id, Some(location), message);
    d.severity = severity(rule.level);
    d
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
    use crate::manifest::diagnostic::{Diagnostic, Severity};

    /// (code, severity, line) of every diagnostic of a manifest with `policy` and one app `a`
    /// whose body is `app`.
    fn report(policy: &str, app: &str) -> Vec<(String, Severity, usize)> {
        let mut text = format!("version: 1\nname: t\n{policy}apps:\n  a:\n    displayName: A\n");
        for line in app.lines() {
            text.push_str("    ");
            text.push_str(line);
            text.push('\n');
        }
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let diagnostics: Vec<Diagnostic> = match crate::manifest::load_bytes_on(
            std::path::Path::new("m.yaml"),
            text.as_bytes(),
            &|_: &str| None,
            today,
        ) {
            Ok(loaded) => loaded.warnings,
            Err(invalid) => invalid.diagnostics,
        };
        diagnostics
            .into_iter()
            .map(|d| {
                let line = d.location.as_ref().map_or(0, |l| l.line_col().0);
                (d.code.to_string(), d.severity, line)
            })
            .collect()
    }

    const OWNED: &str = "owners: [{user: a@contoso.com}]\n";
    const POLICY: &str = "policy: {production: true, requiredTags: [team]}\n";

    #[test]
    fn each_manifest_rule_fires_on_its_shape_and_not_on_the_fixed_one() {
        let secret = |lifetime: &str| {
            format!(
                "secrets:\n  - name: s\n    lifetime: {lifetime}\n    deliver: {{file: s.json}}\n"
            )
        };
        // (rule, app that triggers it, the same app fixed, why)
        let cases: Vec<(&str, String, String, &str)> = vec![
            ("secret-lifetime", secret("2y"), secret("180d"), "default maximum 365d"),
            (
                "multitenant-secret",
                format!("signInAudience: AzureADMultipleOrgs\n{}", secret("90d")),
                format!("signInAudience: AzureADMyOrg\n{}", secret("90d")),
                "a secret on a single-tenant app is not this rule",
            ),
            ("no-owner", String::new(), String::new(), "owners added below"),
            (
                "implicit-grant",
                "web:\n  redirectUris: [https://a.contoso.com/cb]\n  implicitGrant: {accessTokens: true}\n".into(),
                "web:\n  redirectUris: [https://a.contoso.com/cb]\n  implicitGrant: {accessTokens: false}\n".into(),
                "only an enabled grant",
            ),
            (
                "localhost-redirect",
                "publicClient:\n  redirectUris: [http://localhost:8400/cb]\n".into(),
                "publicClient:\n  redirectUris: [https://a.contoso.com/cb]\n".into(),
                "production set",
            ),
            (
                "wildcard-redirect",
                "web:\n  redirectUris: [https://*.contoso.com/cb]\n".into(),
                "web:\n  redirectUris: [https://a.contoso.com/cb]\n".into(),
                "organisation-only apps may have wildcards, the policy still reports them",
            ),
            ("missing-tag", "tags: [teams]\n".into(), "tags: [team=crm]\n".into(), "exact or key=value"),
        ];
        for (rule, bad, good, why) in cases {
            let (bad_owners, good_owners) = if rule == "no-owner" {
                ("", OWNED)
            } else {
                (OWNED, OWNED)
            };
            let tags = |body: &str| {
                if body.contains("tags:") {
                    String::new()
                } else {
                    "tags: [team=x]\n".into()
                }
            };
            let bad = format!("{bad_owners}{}{bad}", tags(&bad));
            let good = format!("{good_owners}{}{good}", tags(&good));
            let found = report(POLICY, &bad);
            assert!(
                found.iter().any(|f| f.0 == rule),
                "{rule} ({why}) not reported: {found:?}"
            );
            let found = report(POLICY, &good);
            assert!(
                !found.iter().any(|f| f.0 == rule),
                "{rule} ({why}) reported on the fixed app: {found:?}"
            );
            // Without a policy section, the new rules stay silent (the manifest's old checks only).
            assert!(
                !report("", &bad).iter().any(|f| f.0 == rule),
                "{rule} without a policy"
            );
        }
        // localhost is only a finding in a production set.
        let dev = report(
            "policy: {}\n",
            &format!("{OWNED}publicClient:\n  redirectUris: [http://localhost:8400/cb]\n"),
        );
        assert!(!dev.iter().any(|f| f.0 == "localhost-redirect"), "{dev:?}");
    }

    #[test]
    fn levels_and_allowances() {
        let app = "signInAudience: AzureADMultipleOrgs\nsecrets:\n  - name: s\n    deliver: {file: s.json}\n";
        let levels = |policy: &str| -> Vec<(String, Severity)> {
            report(policy, app)
                .into_iter()
                .map(|(c, s, _)| (c, s))
                .collect()
        };
        let default = levels("policy: {}\n");
        assert!(
            default.contains(&("no-owner".into(), Severity::Warning)),
            "{default:?}"
        );
        assert!(default.contains(&("multitenant-secret".into(), Severity::Warning)));
        let strict = levels("policy: {requireOwners: true, rules: {multitenant-secret: error}}\n");
        assert!(
            strict.contains(&("no-owner".into(), Severity::Error)),
            "{strict:?}"
        );
        assert!(strict.contains(&("multitenant-secret".into(), Severity::Error)));
        let off = levels("policy: {rules: {no-owner: off}}\n");
        assert!(!off.iter().any(|(c, _)| c == "no-owner"), "{off:?}");
        let allowed = levels(
            "policy:\n  allow:\n    - {rule: no-owner, app: a, justification: owned by the platform team's group}\n",
        );
        assert!(!allowed.iter().any(|(c, _)| c == "no-owner"), "{allowed:?}");
        let other_app =
            levels("policy:\n  allow:\n    - {rule: no-owner, app: b, justification: x}\n");
        assert!(
            other_app.iter().any(|(c, _)| c == "no-owner"),
            "an allowance for b covers not a"
        );
        let other_subject = levels(
            "policy:\n  allow:\n    - {rule: no-owner, app: a, subject: z, justification: x}\n",
        );
        assert!(
            other_subject.iter().any(|(c, _)| c == "no-owner"),
            "the subject must match"
        );
    }

    #[test]
    fn a_policy_that_cannot_be_read_is_an_error_at_its_position() {
        for (policy, line, why) in [
            (
                "policy:\n  rules: {no-owners: error}\n",
                4,
                "unknown rule id (did you mean)",
            ),
            (
                "policy:\n  allow:\n    - {rule: no-owner, app: a, justification: \" \"}\n",
                5,
                "blank justification",
            ),
            ("policy:\n  maxSecretLifetime: forever\n", 4, "not a period"),
        ] {
            let found = report(policy, OWNED);
            assert!(
                found.contains(&("bad-policy".into(), Severity::Error, line)),
                "{why}: {found:?}"
            );
        }
        let missing = report("policy:\n  allow:\n    - {rule: no-owner, app: a}\n", OWNED);
        assert!(
            missing.iter().any(|f| f.1 == Severity::Error),
            "no justification at all: {missing:?}"
        );
    }
}
