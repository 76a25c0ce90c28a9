//! A policy as the rules read it: levels per rule, accepted findings, and the limits credentials
//! are judged against, with defaults filled in.
//!
//! Why it exists: the same policy judges a manifest (`validate`, `plan`, `apply`) and a tenant
//! (`audit`); both read this one value, so a rule can never be off in one and on in the other.
//!
//! What it must never do: check anything itself, or keep a justification-less allowance (the
//! loaders refuse those before building this).

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};

use super::Period;
use crate::catalogue::rules::{Level, Rule};

/// The policy in force; `Policy::default()` is appreg's defaults (what `audit` uses without
/// `--policy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Localhost redirect URIs are findings.
    pub production: bool,
    pub max_secret_lifetime: Period,
    pub max_secret_age: Period,
    pub expiry_warning: Period,
    pub require_owners: bool,
    pub required_tags: Vec<String>,
    /// Level per rule id; None turns the rule off.
    pub levels: BTreeMap<String, Option<Level>>,
    pub allow: Vec<Allowance>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            production: false,
            max_secret_lifetime: Period::days(365),
            max_secret_age: Period::days(180),
            expiry_warning: Period::days(30),
            require_owners: false,
            required_tags: Vec::new(),
            levels: BTreeMap::new(),
            allow: Vec::new(),
        }
    }
}

/// A finding accepted on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowance {
    pub rule: String,
    pub app: String,
    pub subject: Option<String>,
    pub justification: String,
}

impl Policy {
    /// The level of `rule` under this policy; None when the policy turns it off. `requireOwners`
    /// makes `no-owner` an error unless the rule's level is set explicitly.
    pub fn level(&self, rule: &Rule) -> Option<Level> {
        if let Some(level) = self.levels.get(rule.id) {
            return *level;
        }
        if rule.id == crate::catalogue::rules::NO_OWNER.id && self.require_owners {
            return Some(Level::Error);
        }
        Some(rule.level)
    }

    /// The allowance covering a finding of `rule` on an app known by any of `names`, about
    /// `subject` (what the finding names, if anything).
    pub fn allowance(
        &self,
        rule: &str,
        names: &[&str],
        subject: Option<&str>,
    ) -> Option<&Allowance> {
        self.allow.iter().find(|a| {
            a.rule == rule
                && names.iter().any(|n| n.eq_ignore_ascii_case(&a.app))
                && match (&a.subject, subject) {
                    (None, _) => true,
                    (Some(wanted), Some(found)) => wanted.eq_ignore_ascii_case(found),
                    (Some(_), None) => false,
                }
        })
    }

    /// Whether a tag list carries every required tag (exactly, or as `<tag>=<value>`); the
    /// first one missing.
    pub fn missing_tag<'a>(&'a self, tags: &[String]) -> Option<&'a str> {
        self.required_tags
            .iter()
            .find(|required| {
                !tags.iter().any(|t| {
                    t == *required
                        || t.strip_prefix(required.as_str())
                            .is_some_and(|rest| rest.starts_with('='))
                })
            })
            .map(String::as_str)
    }
}

/// Whether a redirect URI points at this machine.
pub fn is_localhost(uri: &str) -> bool {
    url::Url::parse(uri).ok().is_some_and(|u| match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    })
}

/// Whether `period` is longer than `limit` (calendar periods compared from a fixed day).
pub fn longer(period: &Period, limit: &Period) -> bool {
    let start: DateTime<Utc> = Utc.with_ymd_and_hms(2001, 1, 1, 0, 0, 0).unwrap();
    period.after(start) > limit.after(start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::rules::{HIGH_PRIVILEGE_PERMISSION, NO_OWNER};

    #[test]
    fn levels_allowances_and_tags() {
        let mut policy = Policy::default();
        assert_eq!(policy.level(&NO_OWNER), Some(Level::Warning));
        policy.require_owners = true;
        assert_eq!(policy.level(&NO_OWNER), Some(Level::Error), "requireOwners");
        policy.levels.insert(NO_OWNER.id.into(), None);
        assert_eq!(policy.level(&NO_OWNER), None, "explicit off wins");
        policy.allow.push(Allowance {
            rule: HIGH_PRIVILEGE_PERMISSION.id.into(),
            app: "crm".into(),
            subject: Some("Mail.Send".into()),
            justification: "x".into(),
        });
        let id = HIGH_PRIVILEGE_PERMISSION.id;
        assert!(policy.allowance(id, &["crm"], Some("Mail.Send")).is_some());
        assert!(
            policy
                .allowance(id, &["crm"], Some("Mail.ReadWrite"))
                .is_none(),
            "other subject"
        );
        assert!(
            policy.allowance(id, &["erp"], Some("Mail.Send")).is_none(),
            "other app"
        );
        assert!(
            policy.allowance(NO_OWNER.id, &["crm"], None).is_none(),
            "other rule"
        );
        policy.required_tags = vec!["team".into()];
        assert_eq!(policy.missing_tag(&["team=crm".into()]), None);
        assert_eq!(policy.missing_tag(&["teams".into()]), Some("team"));
        assert!(longer(&Period::days(366), &Period::days(365)));
        assert!(!longer(
            &Period {
                years: 1,
                months: 0,
                days: 0
            },
            &Period::days(365)
        ));
    }
}
