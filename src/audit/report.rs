//! An audit's result as one value, and its renderings: human, JSON, Markdown and SARIF 2.1.0 (for
//! GitHub code scanning). Every rendering is made from the same `Report`, so they cannot disagree.
//!
//! What it must never do: print text from the tenant unescaped (display names and redirect URIs
//! are anyone's to write): the human view escapes them, Markdown escapes its table syntax, and
//! JSON and SARIF carry them as JSON strings.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::check::Finding;
use crate::catalogue::rules::{self, Level};
use crate::output::untrusted::escape;

/// Version of the JSON report's shape: the one every `--json` document carries (camelCase keys,
/// an object whose first key is `formatVersion`), bumped with them.
pub const FORMAT_VERSION: u32 = crate::output::machine::FORMAT_VERSION;

/// One audit of one tenant.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub format_version: u32,
    pub tenant_id: String,
    /// The moment credentials were judged against.
    pub as_of: DateTime<Utc>,
    pub applications: usize,
    pub service_principals: usize,
    /// Findings the policy allowed (not listed).
    pub allowed: usize,
    pub summary: Summary,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    /// Findings per rule id.
    pub by_rule: BTreeMap<&'static str, usize>,
}

impl Summary {
    pub fn of(findings: &[Finding]) -> Summary {
        let mut by_rule = BTreeMap::new();
        for f in findings {
            *by_rule.entry(f.rule.id).or_insert(0) += 1;
        }
        Summary {
            errors: findings.iter().filter(|f| f.level == Level::Error).count(),
            warnings: findings
                .iter()
                .filter(|f| f.level == Level::Warning)
                .count(),
            by_rule,
        }
    }
}

impl Report {
    /// Whether some finding is at `threshold` or above.
    pub fn fails(&self, threshold: Level) -> bool {
        self.findings.iter().any(|f| f.level >= threshold)
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serializes") + "\n"
    }

    /// Findings grouped by rule, each rule with its reason and fix once.
    pub fn human(&self) -> String {
        let mut out = String::new();
        for (rule, findings) in self.grouped() {
            let level = findings[0].level.as_str();
            out.push_str(&format!(
                "{level}[{}] {} finding(s): {}\n",
                rule.id,
                findings.len(),
                rule.reason
            ));
            for f in findings {
                out.push_str(&format!(
                    "  - {} ({} {}): {}\n",
                    escape(&f.object.display_name),
                    f.object.kind,
                    f.object.app_id,
                    escape(&f.message)
                ));
            }
            out.push_str(&format!("  help: {}\n\n", rule.fix));
        }
        out.push_str(&format!(
            "audited {} app registration(s) and {} service principal(s) of tenant {}: {} error(s), {} warning(s), {} allowed by the policy\n",
            self.applications,
            self.service_principals,
            self.tenant_id,
            self.summary.errors,
            self.summary.warnings,
            self.allowed
        ));
        out
    }

    pub fn markdown(&self) -> String {
        let cell = |text: &str| {
            escape(text)
                .replace('\\', "\\\\")
                .replace('|', "\\|")
                .replace('`', "\\`")
                .replace('<', "&lt;")
        };
        let mut out = format!(
            "## appreg audit of tenant {}\n\n{} app registrations, {} service principals: **{} errors, {} warnings**, {} allowed by the policy.\n",
            self.tenant_id,
            self.applications,
            self.service_principals,
            self.summary.errors,
            self.summary.warnings,
            self.allowed
        );
        for (rule, findings) in self.grouped() {
            out.push_str(&format!(
                "\n### {} `{}` ({})\n\n{}. Fix: {}\n\n| app | appId | finding |\n|---|---|---|\n",
                findings[0].level.as_str(),
                rule.id,
                findings.len(),
                rule.reason,
                rule.fix
            ));
            for f in findings {
                out.push_str(&format!(
                    "| {} | {} | {} |\n",
                    cell(&f.object.display_name),
                    f.object.app_id,
                    cell(&f.message)
                ));
            }
        }
        out
    }

    /// SARIF 2.1.0: one run, every tenant rule in the driver, one result per finding located
    /// logically at the app (and at a stable pseudo-path, which code scanning requires).
    pub fn sarif(&self) -> String {
        let tenant_rules: Vec<&rules::Rule> = rules::RULES
            .iter()
            .copied()
            .filter(|r| r.scope.tenant())
            .collect();
        let index = |id: &str| tenant_rules.iter().position(|r| r.id == id);
        let driver_rules: Vec<Value> = tenant_rules
            .iter()
            .map(|r| {
                let mut rule = json!({
                    "id": r.id,
                    "name": r.id,
                    "shortDescription": {"text": r.reason},
                    "fullDescription": {"text": r.reason},
                    "help": {"text": r.fix},
                    "defaultConfiguration": {"level": r.level.as_str()},
                });
                if r.source.starts_with("https://") {
                    rule["helpUri"] = json!(r.source);
                }
                rule
            })
            .collect();
        let results: Vec<Value> = self
            .findings
            .iter()
            .map(|f| {
                let path = format!(
                    "tenant/{}/{}s/{}",
                    self.tenant_id, f.object.kind, f.object.app_id
                );
                let mut result = json!({
                    "ruleId": f.rule.id,
                    "level": f.level.as_str(),
                    "message": {"text": f.message},
                    "locations": [{
                        "physicalLocation": {
                            "artifactLocation": {"uri": path},
                            "region": {"startLine": 1}
                        },
                        "logicalLocations": [{
                            "name": f.object.display_name,
                            "fullyQualifiedName": format!("{}s/{}", f.object.kind, f.object.app_id),
                            "kind": "resource"
                        }]
                    }],
                    "partialFingerprints": {
                        "appregFinding/v1": format!(
                            "{}:{}:{}",
                            f.rule.id,
                            f.object.id,
                            f.subject.as_deref().unwrap_or("")
                        )
                    }
                });
                if let Some(i) = index(f.rule.id) {
                    result["ruleIndex"] = json!(i);
                }
                result
            })
            .collect();
        let sarif = json!({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {
                    "name": "appreg",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": driver_rules,
                }},
                "results": results,
            }]
        });
        serde_json::to_string_pretty(&sarif).expect("SARIF serializes") + "\n"
    }

    /// Findings by rule, in catalogue order.
    fn grouped(&self) -> Vec<(&'static rules::Rule, Vec<&Finding>)> {
        rules::RULES
            .iter()
            .filter_map(|rule| {
                let of: Vec<&Finding> = self
                    .findings
                    .iter()
                    .filter(|f| f.rule.id == rule.id)
                    .collect();
                (!of.is_empty()).then_some((*rule, of))
            })
            .collect()
    }
}
