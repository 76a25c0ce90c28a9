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

/// How serious a finding of a rule is unless something overrides it. `--strict` turns every
/// warning into a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Warning,
    Error,
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
}

/// An application permission with a known path to Global Administrator, or access to the
/// content of every mailbox, site or drive of the tenant.
pub const HIGH_PRIVILEGE_PERMISSION: Rule = Rule {
    id: "high-privilege-permission",
    level: Level::Warning,
    reason: "the application permission gives a path to Global Administrator or reaches every mailbox, site or drive of the tenant",
    fix: "request a narrower permission, or acknowledge this one on the app with a reason a reviewer can judge",
    acknowledgeable: true,
};

/// An acknowledgement that names no application permission the app requests.
pub const STALE_ACKNOWLEDGEMENT: Rule = Rule {
    id: "stale-acknowledgement",
    level: Level::Warning,
    reason: "an acknowledgement left behind after its permission went would silently cover the permission if it came back",
    fix: "remove the acknowledgement, or correct the `Resource/Permission` it names",
    acknowledgeable: false,
};

/// An acknowledgement that cannot be read: no `Resource/Permission`, or no reason.
pub const BAD_ACKNOWLEDGEMENT: Rule = Rule {
    id: "bad-acknowledgement",
    level: Level::Error,
    reason: "an acknowledgement must name what it covers and say why, or it is a blank cheque",
    fix: "write `permission: \"<resource>/<permission>\"` and a `reason`",
    acknowledgeable: false,
};

/// A permission on an API that Microsoft is retiring: it still works, with an end date.
pub const RETIRING_API: Rule = Rule {
    id: "retiring-api",
    level: Level::Warning,
    reason: "the permission reaches an API Microsoft is retiring, so the integration stops working on a known date",
    fix: "request the replacement permission named in the report and move the integration to it",
    acknowledgeable: false,
};

/// A permission on an API that Microsoft has retired: it grants nothing any more.
pub const RETIRED_API: Rule = Rule {
    id: "retired-api",
    level: Level::Error,
    reason: "the permission reaches an API Microsoft has switched off, so granting it only adds risk",
    fix: "request the replacement permission named in the report instead",
    acknowledgeable: false,
};

/// Every rule of the catalogue.
pub const RULES: [&Rule; 5] = [
    &HIGH_PRIVILEGE_PERMISSION,
    &STALE_ACKNOWLEDGEMENT,
    &BAD_ACKNOWLEDGEMENT,
    &RETIRING_API,
    &RETIRED_API,
];

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().copied().find(|r| r.id == id)
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
