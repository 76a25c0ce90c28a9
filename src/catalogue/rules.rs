//! appreg's rule catalogue: the permission rules a manifest is checked against, as data.
//!
//! Why it exists: a rule is something a reviewer, a policy and an audit all need to name the same
//! way. Keeping each one as a value (id, default level, one-line reason, fix) rather than as words
//! inside a `format!` lets `validate` report it, lets a manifest acknowledge it by id, and lets later
//! features (per-manifest `policy:` overrides of the level, `appreg audit` over a tenant) list and
//! change rules without touching the checks.
//!
//! What it must never do: decide anything. The checks live in `manifest::validate` and the engine;
//! this module only says what each rule is.

/// How serious a finding of a rule is unless a policy overrides it. `--strict` turns every
/// warning into a failure; `audit --fail-on` picks the level that fails a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Warning,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// What a rule is checked on: the manifest (`validate`, and so `plan` and `apply` before they
/// read the tenant), the live tenant (`audit`), or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Manifest,
    Tenant,
    Both,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Manifest => "manifest",
            Scope::Tenant => "tenant",
            Scope::Both => "manifest, tenant",
        }
    }

    pub fn tenant(self) -> bool {
        matches!(self, Scope::Tenant | Scope::Both)
    }
}

/// One rule: what it is called, how serious it is by default, why it exists, and what to do.
#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    /// Stable kebab-case id, shown in brackets in every report (`warning[high-privilege-permission]`).
    pub id: &'static str,
    pub level: Level,
    /// Why the rule exists, in one line.
    pub reason: &'static str,
    /// What to do about a finding, in one line.
    pub fix: &'static str,
    /// Whether a manifest may acknowledge a finding of this rule (`acknowledge:` on an app).
    pub acknowledgeable: bool,
    pub scope: Scope,
    /// The guidance the rule rests on: a Microsoft page, or the data file it reads.
    pub source: &'static str,
}

const APP_SECURITY_GUIDANCE: &str = "https://learn.microsoft.com/entra/identity-platform/security-best-practices-for-app-registration";

/// An application permission with a known path to Global Administrator, or access to the
/// content of every mailbox, site or drive of the tenant.
pub const HIGH_PRIVILEGE_PERMISSION: Rule = Rule {
    id: "high-privilege-permission",
    level: Level::Warning,
    reason: "the application permission gives a path to Global Administrator or reaches every mailbox, site or drive of the tenant",
    fix: "request a narrower permission, or acknowledge this one on the app with a reason a reviewer can judge",
    acknowledgeable: true,
    scope: Scope::Both,
    source: "src/catalogue/data/high-privilege.tsv (azure-tiering tier 0, and tenant-wide content access)",
};

/// An acknowledgement that names no application permission the app requests.
pub const STALE_ACKNOWLEDGEMENT: Rule = Rule {
    id: "stale-acknowledgement",
    level: Level::Warning,
    reason: "an acknowledgement left behind after its permission went would silently cover the permission if it came back",
    fix: "remove the acknowledgement, or correct the `Resource/Permission` it names",
    acknowledgeable: false,
    scope: Scope::Manifest,
    source: "appreg",
};

/// An acknowledgement that cannot be read: no `Resource/Permission`, or no reason.
pub const BAD_ACKNOWLEDGEMENT: Rule = Rule {
    id: "bad-acknowledgement",
    level: Level::Error,
    reason: "an acknowledgement must name what it covers and say why, or it is a blank cheque",
    fix: "write `permission: \"<resource>/<permission>\"` and a `reason`",
    acknowledgeable: false,
    scope: Scope::Manifest,
    source: "appreg",
};

/// A permission on an API that Microsoft is retiring: it still works, with an end date.
pub const RETIRING_API: Rule = Rule {
    id: "retiring-api",
    level: Level::Warning,
    reason: "the permission reaches an API Microsoft is retiring, so the integration stops working on a known date",
    fix: "request the replacement permission named in the report and move the integration to it",
    acknowledgeable: false,
    scope: Scope::Manifest,
    source: "src/catalogue/data/lifecycle.tsv",
};

/// A permission on an API that Microsoft has retired: it grants nothing any more.
pub const RETIRED_API: Rule = Rule {
    id: "retired-api",
    level: Level::Error,
    reason: "the permission reaches an API Microsoft has switched off, so granting it only adds risk",
    fix: "request the replacement permission named in the report instead",
    acknowledgeable: false,
    scope: Scope::Manifest,
    source: "src/catalogue/data/lifecycle.tsv",
};

/// A client secret valid for longer than the policy allows.
pub const SECRET_LIFETIME: Rule = Rule {
    id: "secret-lifetime",
    level: Level::Warning,
    reason: "a secret stays useful to whoever copied it for as long as it is valid",
    fix: "shorten the secret's lifetime to the policy's `maxSecretLifetime` (default 365d), or use a certificate or federated credential",
    acknowledgeable: false,
    scope: Scope::Both,
    source: "https://learn.microsoft.com/entra/identity-platform/how-to-add-credentials",
};

/// A client secret that has not been replaced for longer than the policy allows.
pub const SECRET_NOT_ROTATED: Rule = Rule {
    id: "secret-not-rotated",
    level: Level::Warning,
    reason: "a secret never replaced since it was handed over has had the longest time to leak",
    fix: "rotate the secret (manage it with `secrets:` so appreg rotates it) and remove the old one",
    acknowledgeable: false,
    scope: Scope::Tenant,
    source: APP_SECURITY_GUIDANCE,
};

/// A secret or certificate past its end date, still on the app.
pub const CREDENTIAL_EXPIRED: Rule = Rule {
    id: "credential-expired",
    level: Level::Warning,
    reason: "an expired credential left on an app hides which credentials are live and marks an app nobody looks after",
    fix: "remove the expired credential; if the app is unused, delete it",
    acknowledgeable: false,
    scope: Scope::Tenant,
    source: APP_SECURITY_GUIDANCE,
};

/// A client secret that expires soon.
pub const SECRET_EXPIRING: Rule = Rule {
    id: "secret-expiring",
    level: Level::Warning,
    reason: "an integration whose secret expires stops working on that day",
    fix: "rotate the secret before it expires (`secrets:` with `rotateBefore` does it on apply)",
    acknowledgeable: false,
    scope: Scope::Tenant,
    source: APP_SECURITY_GUIDANCE,
};

/// A certificate that expires soon.
pub const CERTIFICATE_EXPIRING: Rule = Rule {
    id: "certificate-expiring",
    level: Level::Warning,
    reason: "an integration whose certificate expires stops working on that day",
    fix: "upload the successor certificate now and remove the old one after the switch",
    acknowledgeable: false,
    scope: Scope::Tenant,
    source: APP_SECURITY_GUIDANCE,
};

/// An app other organisations can sign in to that authenticates with a secret.
pub const MULTITENANT_SECRET: Rule = Rule {
    id: "multitenant-secret",
    level: Level::Warning,
    reason: "a multitenant app's secret works in every tenant that consented to it, so one leak reaches all of them",
    fix: "use a certificate or federated credential, or make the app single-tenant (`signInAudience: AzureADMyOrg`)",
    acknowledgeable: false,
    scope: Scope::Both,
    source: APP_SECURITY_GUIDANCE,
};

/// An app registration nobody owns.
pub const NO_OWNER: Rule = Rule {
    id: "no-owner",
    level: Level::Warning,
    reason: "an app without owners has nobody to ask before its secrets are rotated or it is removed",
    fix: "add at least one owner (`owners:`); in a manifest the policy's `requireOwners` makes this an error",
    acknowledgeable: false,
    scope: Scope::Both,
    source: APP_SECURITY_GUIDANCE,
};

/// Tokens issued directly from the authorization endpoint.
pub const IMPLICIT_GRANT: Rule = Rule {
    id: "implicit-grant",
    level: Level::Warning,
    reason: "the implicit grant puts tokens in the browser's URL fragment, where history, logs and scripts can read them",
    fix: "turn off `web.implicitGrant` and use the authorization code flow with PKCE",
    acknowledgeable: false,
    scope: Scope::Both,
    source: "https://learn.microsoft.com/entra/identity-platform/v2-oauth2-implicit-grant-flow",
};

/// A redirect URI on a host outside the tenant's verified domains.
pub const REDIRECT_UNVERIFIED_HOST: Rule = Rule {
    id: "redirect-unverified-host",
    level: Level::Warning,
    reason: "tokens and codes go to the redirect URI, and a host outside the tenant's domains is run by someone else",
    fix: "check the host belongs to the vendor you trust, then allow it in the policy with a justification",
    acknowledgeable: false,
    scope: Scope::Tenant,
    source: "https://learn.microsoft.com/entra/identity-platform/reply-url",
};

/// A redirect URI on localhost.
pub const LOCALHOST_REDIRECT: Rule = Rule {
    id: "localhost-redirect",
    level: Level::Warning,
    reason: "any program on the user's machine can listen on localhost and receive the authorization code",
    fix: "keep localhost redirects in development apps; in a production set (`policy: {production: true}`) remove them",
    acknowledgeable: false,
    scope: Scope::Both,
    source: "https://learn.microsoft.com/entra/identity-platform/reply-url",
};

/// A redirect URI with a wildcard.
pub const WILDCARD_REDIRECT: Rule = Rule {
    id: "wildcard-redirect",
    level: Level::Warning,
    reason: "a wildcard redirect lets any matching host, including one taken over later, receive tokens",
    fix: "list each redirect URI exactly",
    acknowledgeable: false,
    scope: Scope::Both,
    source: "https://learn.microsoft.com/entra/identity-platform/reply-url",
};

/// A permission requested in the registration that nobody consented to.
pub const UNCONSENTED_PERMISSION: Rule = Rule {
    id: "unconsented-permission",
    level: Level::Warning,
    reason: "a requested permission nobody granted is unused today and one consent click away from being live",
    fix: "remove the permission from the registration if the app does not need it",
    acknowledgeable: false,
    scope: Scope::Tenant,
    source: APP_SECURITY_GUIDANCE,
};

/// A secret or certificate on the service principal rather than on the application.
pub const SERVICE_PRINCIPAL_CREDENTIAL: Rule = Rule {
    id: "service-principal-credential",
    level: Level::Warning,
    reason: "credentials added to a service principal do not show on the app registration, a known way to hide a backdoor",
    fix: "remove the credential from the service principal and give the application its credentials instead",
    acknowledgeable: false,
    scope: Scope::Tenant,
    source: "https://learn.microsoft.com/entra/architecture/security-operations-applications",
};

/// An app without a tag the policy requires.
pub const MISSING_TAG: Rule = Rule {
    id: "missing-tag",
    level: Level::Error,
    reason: "the policy requires the tag so every app can be traced to its owner or cost centre",
    fix: "add the tag named in the report to the app's `tags:`",
    acknowledgeable: false,
    scope: Scope::Both,
    source: "appreg policy (`requiredTags`)",
};

/// Every rule of the catalogue.
pub const RULES: [&Rule; 19] = [
    &HIGH_PRIVILEGE_PERMISSION,
    &STALE_ACKNOWLEDGEMENT,
    &BAD_ACKNOWLEDGEMENT,
    &RETIRING_API,
    &RETIRED_API,
    &SECRET_LIFETIME,
    &SECRET_NOT_ROTATED,
    &CREDENTIAL_EXPIRED,
    &SECRET_EXPIRING,
    &CERTIFICATE_EXPIRING,
    &MULTITENANT_SECRET,
    &NO_OWNER,
    &IMPLICIT_GRANT,
    &REDIRECT_UNVERIFIED_HOST,
    &LOCALHOST_REDIRECT,
    &WILDCARD_REDIRECT,
    &UNCONSENTED_PERMISSION,
    &SERVICE_PRINCIPAL_CREDENTIAL,
    &MISSING_TAG,
];

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().copied().find(|r| r.id == id)
}

/// docs/rules.md: every rule, then the high-privilege permissions with their sources. Generated
/// so the page can never disagree with the code (a test checks the checked-in copy).
pub fn markdown() -> String {
    let mut out = String::from(
        "# appreg rules\n\n<!-- Generated from src/catalogue/rules.rs and src/catalogue/data/high-privilege.tsv; \
         regenerate with `APPREG_UPDATE_DOCS=1 cargo test --lib catalogue::rules`. -->\n\n\
         Each rule has a stable id, shown in brackets in every report (`warning[no-owner]`). `validate`, `plan` \
         and `apply` check the rules whose scope includes the manifest; `appreg audit` checks the rules whose \
         scope includes the tenant, on every app registration and service principal. A `policy:` section \
         changes a rule's level (`off`, `warning`, `error`) or allows a finding with a justification.\n\n\
         | id | level | scope | why | fix |\n|---|---|---|---|---|\n",
    );
    for rule in RULES {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            rule.id,
            rule.level.as_str(),
            rule.scope.as_str(),
            rule.reason,
            rule.fix.replace('|', "\\|")
        ));
    }
    out.push_str("\n## Sources\n\n");
    for rule in RULES {
        out.push_str(&format!("- `{}`: {}\n", rule.id, rule.source));
    }
    out.push_str(
        "\n## High-privilege application permissions\n\n\
         The list `high-privilege-permission` reads (src/catalogue/data/high-privilege.tsv).\n\n\
         | resource | permission | why | source |\n|---|---|---|---|\n",
    );
    for p in super::privilege::all() {
        out.push_str(&format!(
            "| {} | `{}` | {} | {} |\n",
            p.resource, p.permission, p.why, p.source
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn rules_are_well_formed() {
        let mut ids = HashSet::new();
        for rule in RULES {
            assert!(ids.insert(rule.id), "duplicate rule id {}", rule.id);
            assert!(
                rule.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{}: ids are kebab-case",
                rule.id
            );
            for (what, text) in [("reason", rule.reason), ("fix", rule.fix)] {
                assert!(
                    !text.is_empty() && !text.contains('\n') && text.len() <= 160,
                    "{}: the {what} is one short line",
                    rule.id
                );
            }
            assert_eq!(super::rule(rule.id), Some(rule));
        }
        assert_eq!(rule("no-such-rule"), None);
    }

    #[test]
    fn docs_rules_md_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rules.md");
        let generated = markdown();
        if std::env::var_os("APPREG_UPDATE_DOCS").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let checked_in = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            checked_in == generated,
            "docs/rules.md is out of date: run `APPREG_UPDATE_DOCS=1 cargo test --lib catalogue::rules`"
        );
        for rule in RULES {
            assert!(checked_in.contains(&format!("| `{}` |", rule.id)));
        }
    }

    #[test]
    fn only_the_privilege_rule_can_be_acknowledged() {
        // A retired API cannot be waived: the permission grants nothing. Acknowledgement rules
        // acknowledging themselves would be a loop.
        let acknowledgeable: Vec<&str> = RULES
            .iter()
            .filter(|r| r.acknowledgeable)
            .map(|r| r.id)
            .collect();
        assert_eq!(acknowledgeable, ["high-privilege-permission"]);
    }
}
