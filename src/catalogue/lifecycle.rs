//! Lifecycle facts: which permissions reach an API Microsoft is retiring or has retired, when, and
//! what replaces it.
//!
//! Why it exists: an app registered from an old vendor guide is created cleanly and then fails at
//! the integration's first call, once Microsoft switches the API off. The dates are public; appreg
//! reads them from `data/lifecycle.tsv` (one row per retirement, each naming its source) and says so
//! before anything is registered, and `drift` says so for apps that still hold such permissions.
//!
//! What it must never do: read the machine's clock. Every judgement takes the day it is made on,
//! so tests (and `--as-of`) can look before and after each date.

use std::sync::LazyLock;

use chrono::NaiveDate;
use uuid::Uuid;

use super::PermissionKind;

/// Where a retirement stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Announced; the API still works for everyone.
    Announced,
    /// Past the first date: most apps are refused (blocked by default), the rest have until the end.
    Restricted,
    /// Past the final date: the API answers no one.
    Retired,
}

/// Which permissions of a resource a row covers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Names {
    All,
    /// Every name that starts with this (it ends with a dot: `Mail.` covers `Mail.Read`, not
    /// `Mailbox.Migration`).
    Prefix(&'static str),
    Exact(&'static str),
}

/// One retirement: an API, the permissions that reach it, its dates and its replacement.
#[derive(Debug)]
pub struct Retirement {
    /// The resource's display name, as in the catalogue.
    pub resource: &'static str,
    pub app_id: Uuid,
    /// None: both kinds.
    kind: Option<PermissionKind>,
    names: Names,
    /// What is being retired, as people call it.
    pub api: &'static str,
    /// The first date and what happens on it, when the retirement has two steps.
    pub restricted: Option<(NaiveDate, &'static str)>,
    /// The final date.
    pub retired: NaiveDate,
    /// What to request instead, by name.
    pub replacement: &'static str,
    /// Where the dates come from.
    pub source: &'static str,
}

impl Retirement {
    /// The stage on `today`; a date is reached at the start of its day.
    pub fn stage(&self, today: NaiveDate) -> Stage {
        if today >= self.retired {
            Stage::Retired
        } else if self.restricted.is_some_and(|(date, _)| today >= date) {
            Stage::Restricted
        } else {
            Stage::Announced
        }
    }

    fn covers(&self, app_id: Uuid, kind: PermissionKind, name: &str) -> bool {
        self.app_id == app_id
            && self.kind.is_none_or(|k| k == kind)
            && match self.names {
                Names::All => true,
                Names::Prefix(prefix) => name.starts_with(prefix),
                Names::Exact(exact) => name == exact,
            }
    }

    /// What happens to `name` and when, as one sentence for reports: "`full_access_as_app`
    /// reaches Exchange Web Services (EWS) in Exchange Online, which Microsoft is retiring: ...".
    pub fn describe(&self, name: &str, today: NaiveDate) -> String {
        let day = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
        let off = day(self.retired);
        match (self.stage(today), self.restricted) {
            (Stage::Retired, _) => format!(
                "`{name}` reaches {}, which Microsoft retired on {off}; it grants nothing",
                self.api
            ),
            (Stage::Restricted, Some((date, effect))) => format!(
                "`{name}` reaches {}, which Microsoft is retiring: since {} {effect}; switched off for good on {off}",
                self.api,
                day(date)
            ),
            (_, Some((date, effect))) => format!(
                "`{name}` reaches {}, which Microsoft is retiring: from {} {effect}; switched off for good on {off}",
                self.api,
                day(date)
            ),
            (_, None) => format!(
                "`{name}` reaches {}, which Microsoft is retiring: switched off for good on {off}",
                self.api
            ),
        }
    }

    /// What to do instead, for a `help:` line: the Microsoft Graph permission of the same meaning
    /// when one is known, otherwise the row's replacement, and where the dates come from.
    pub fn help(&self, kind: PermissionKind, name: &str) -> String {
        let link = self
            .source
            .split_whitespace()
            .find(|w| w.starts_with("https://"))
            .unwrap_or(self.source);
        let instead = match self.graph_equivalent(kind, name) {
            Some(equivalent) => {
                format!("request `{equivalent}` from `Microsoft Graph` ({kind}) instead")
            }
            None => format!("request {} instead", self.replacement),
        };
        format!("{instead}; dates: {link}")
    }

    /// A Microsoft Graph permission of the same kind that replaces `name`, when the replacement is
    /// "the Graph permission of the same name/meaning": the catalogue's mapping for Azure AD Graph,
    /// else the same name, else the name without `.All` (Exchange's `Calendars.ReadWrite.All` is
    /// Graph's `Calendars.ReadWrite`).
    fn graph_equivalent(&self, kind: PermissionKind, name: &str) -> Option<&'static str> {
        if !self
            .replacement
            .starts_with("the Microsoft Graph permission")
        {
            return None;
        }
        let graph = super::resource("Microsoft Graph")?;
        let mapped = super::resource(self.resource)
            .and_then(|r| r.graph_equivalent(name))
            .unwrap_or(name);
        [mapped, mapped.strip_suffix(".All").unwrap_or(mapped)]
            .into_iter()
            .find_map(|candidate| graph.permission(kind, candidate))
            .map(|p| p.name)
    }
}

/// The retirement that `name` (of this kind, on the resource with this appId) falls under, if any.
pub fn retirement(app_id: Uuid, kind: PermissionKind, name: &str) -> Option<&'static Retirement> {
    RETIREMENTS.iter().find(|r| r.covers(app_id, kind, name))
}

/// Every retirement the catalogue knows.
pub fn retirements() -> &'static [Retirement] {
    &RETIREMENTS
}

static RETIREMENTS: LazyLock<Vec<Retirement>> =
    LazyLock::new(|| parse(include_str!("data/lifecycle.tsv")));

/// Parses the checked-in data; a malformed row is a build defect and panics with its line.
fn parse(data: &'static str) -> Vec<Retirement> {
    let rows = data
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .skip(1); // column header
    let mut out = Vec::new();
    for (index, line) in rows {
        let bad =
            |what: &str| -> ! { panic!("lifecycle.tsv line {}: {what}: {line:?}", index + 1) };
        let fields: Vec<&'static str> = line.split('\t').collect();
        let [
            resource,
            kind,
            names,
            api,
            restricted,
            effect,
            retired,
            replacement,
            source,
        ] = fields[..]
        else {
            bad("expected 9 tab-separated columns")
        };
        let date = |text: &str| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or_else(|_| bad("bad date"))
        };
        let app_id = super::resource(resource)
            .map(|r| r.app_id)
            .unwrap_or_else(|| bad("unknown resource"));
        let kind = match kind {
            "*" => None,
            other => Some(PermissionKind::parse(other).unwrap_or_else(|| bad("unknown kind"))),
        };
        let names = match names {
            "*" => Names::All,
            prefix if prefix.ends_with(".*") => Names::Prefix(&prefix[..prefix.len() - 1]),
            exact => Names::Exact(exact),
        };
        let restricted = match (restricted, effect) {
            ("-", "-") => None,
            ("-", _) | (_, "-") => {
                bad("a restricted date needs its effect, and the other way round")
            }
            (date_text, effect) => Some((date(date_text), effect)),
        };
        let retired = date(retired);
        if restricted.is_some_and(|(d, _)| d >= retired) {
            bad("the restricted date must come before the retired date");
        }
        if !source.contains("https://") {
            bad("every row names its source by URL");
        }
        out.push(Retirement {
            resource,
            app_id,
            kind,
            names,
            api,
            restricted,
            retired,
            replacement,
            source,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::PermissionKind::{Application, Delegated};
    use super::*;
    use crate::catalogue::{AZURE_AD_GRAPH_APP_ID, EXCHANGE_ONLINE_APP_ID, MICROSOFT_GRAPH_APP_ID};

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn which_permissions_are_covered() {
        // (resource, kind, name, expected api, why)
        let cases = [
            (
                EXCHANGE_ONLINE_APP_ID,
                Application,
                "full_access_as_app",
                Some("Exchange Web Services (EWS) in Exchange Online"),
                "EWS app-only access",
            ),
            (
                EXCHANGE_ONLINE_APP_ID,
                Delegated,
                "EWS.AccessAsUser.All",
                Some("Exchange Web Services (EWS) in Exchange Online"),
                "EWS delegated access on Exchange Online",
            ),
            (
                MICROSOFT_GRAPH_APP_ID,
                Delegated,
                "EWS.AccessAsUser.All",
                Some("Exchange Web Services (EWS) in Exchange Online"),
                "the same scope published on Microsoft Graph",
            ),
            (
                EXCHANGE_ONLINE_APP_ID,
                Application,
                "Calendars.ReadWrite.All",
                Some("the Outlook REST API (outlook.office.com/api)"),
                "Exchange's own calendar permissions served the Outlook REST API",
            ),
            (
                EXCHANGE_ONLINE_APP_ID,
                Application,
                "Mailbox.Migration",
                None,
                "`Mail.` is a prefix with its dot: Mailbox is another family",
            ),
            (
                EXCHANGE_ONLINE_APP_ID,
                Delegated,
                "IMAP.AccessAsUser.All",
                None,
                "IMAP with OAuth keeps the Exchange Online audience",
            ),
            (
                MICROSOFT_GRAPH_APP_ID,
                Application,
                "Calendars.ReadWrite",
                None,
                "the replacement itself is supported",
            ),
            (
                AZURE_AD_GRAPH_APP_ID,
                Delegated,
                "Anything.At.All",
                Some("Azure AD Graph"),
                "the whole API is retired",
            ),
        ];
        for (app_id, kind, name, api, why) in cases {
            assert_eq!(
                retirement(app_id, kind, name).map(|r| r.api),
                api,
                "{name}: {why}"
            );
        }
    }

    #[test]
    fn stages_follow_the_dates() {
        let ews = retirement(EXCHANGE_ONLINE_APP_ID, Application, "full_access_as_app").unwrap();
        // (day, stage, why)
        let cases = [
            ("2026-09-30", Stage::Announced, "the day before the block"),
            (
                "2026-10-01",
                Stage::Restricted,
                "blocked by default from its first day",
            ),
            (
                "2027-03-31",
                Stage::Restricted,
                "the last day it can still be allowed",
            ),
            (
                "2027-04-01",
                Stage::Retired,
                "switched off from the final day on",
            ),
            ("2030-01-01", Stage::Retired, "and forever after"),
        ];
        for (today, stage, why) in cases {
            assert_eq!(ews.stage(day(today)), stage, "{today}: {why}");
        }
    }

    #[test]
    fn reports_name_the_dates_and_the_replacement() {
        let ews = retirement(EXCHANGE_ONLINE_APP_ID, Application, "full_access_as_app").unwrap();
        let before = ews.describe("full_access_as_app", day("2026-06-01"));
        assert!(
            before.contains("from 2026-10-01") && before.contains("2027-04-01"),
            "{before}"
        );
        let during = ews.describe("full_access_as_app", day("2026-12-07"));
        assert!(during.contains("since 2026-10-01"), "{during}");
        assert!(during.contains("allow list"), "{during}");
        let after = ews.describe("full_access_as_app", day("2027-04-01"));
        assert!(after.contains("retired on 2027-04-01"), "{after}");
        let help = ews.help(Application, "full_access_as_app");
        assert!(help.contains("Calendars.ReadWrite") && help.contains("RBAC for Applications"));
        assert!(help.contains("https://"), "{help}");

        let rest = retirement(
            EXCHANGE_ONLINE_APP_ID,
            Application,
            "Calendars.ReadWrite.All",
        )
        .unwrap();
        assert!(
            rest.help(Application, "Calendars.ReadWrite.All")
                .starts_with("request `Calendars.ReadWrite` from `Microsoft Graph` (application)"),
            "Graph drops `.All` from the app-only calendar permission"
        );
        let aad = retirement(AZURE_AD_GRAPH_APP_ID, Delegated, "Directory.Read.All").unwrap();
        assert!(
            aad.help(Delegated, "Directory.Read.All")
                .starts_with("request `Directory.Read.All` from `Microsoft Graph` (delegated)")
        );
    }

    #[test]
    fn data_is_well_formed() {
        assert!(retirements().len() >= 4);
        for r in retirements() {
            assert!(
                super::super::resource(r.resource).is_some(),
                "{}",
                r.resource
            );
            assert!(r.source.contains("https://"), "{}: no source", r.api);
        }
        // The flag the name check uses and the lifecycle data agree on Azure AD Graph.
        let aad = super::super::resource("Azure AD Graph").unwrap();
        assert!(aad.retired);
        assert_eq!(
            retirement(aad.app_id, Application, "Directory.Read.All").map(|r| r.retired),
            Some(day("2025-07-01"))
        );
    }
}
