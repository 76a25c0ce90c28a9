//! Views of a plan: human (terminal) and Markdown (PR comments, CI job summaries). Both read the
//! same `Plan` value that `--json` serializes, so the three can never disagree.

use std::fmt::Write;

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use super::untrusted::{Untrusted, escape};
use crate::engine::plan::{Action, Change, FieldChange, Plan};

/// ANSI styling, or none.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(self, action: Action, text: &str) -> String {
        if !self.color {
            return text.to_string();
        }
        let code = match action {
            Action::Create => "32",
            Action::Update | Action::Rotate => "33",
            Action::Delete | Action::Replace => "31",
            Action::NoOp => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    fn dim(self, text: &str) -> String {
        if self.color {
            format!("\x1b[2m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// What a plan value is shown as: what apply will do, or how the tenant differs (`drift`). The
/// changes are the same; the words are not, so a drift report never reads as a pending apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Plan,
    Drift,
}

/// The terminal view: changed objects with their field diffs, then one summary line.
pub fn human(plan: &Plan, style: Style) -> String {
    human_report(plan, style, Report::Plan)
}

/// [`human`], worded for `report`.
pub fn human_report(plan: &Plan, style: Style, report: Report) -> String {
    let mut out = String::new();
    if let Some(line) = targeted_line(plan) {
        let _ = writeln!(out, "{line}\n");
    }
    let changed: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action.is_write())
        .collect();
    if changed.is_empty() {
        let _ = writeln!(
            out,
            "{}. The tenant matches the manifest ({} objects checked).",
            match report {
                Report::Plan => "No changes",
                Report::Drift if plan.notices.is_empty() => "No drift",
                Report::Drift => "No drift in what apply manages",
            },
            plan.changes.len()
        );
        human_notices(&mut out, plan, report);
        if report == Report::Drift && !plan.notices.is_empty() {
            let _ = writeln!(out, "\n{}", summary_line_for(plan, report));
        }
        return out;
    }
    let _ = match report {
        Report::Plan => writeln!(
            out,
            "appreg will perform these actions in set `{}` (tenant {}):\n",
            Untrusted(&plan.set_name),
            Untrusted(&plan.tenant_id)
        ),
        Report::Drift => writeln!(
            out,
            "The tenant differs from the manifest in set `{}` (tenant {}); `appreg apply` would:\n",
            Untrusted(&plan.set_name),
            Untrusted(&plan.tenant_id)
        ),
    };
    for change in changed {
        let head = format!("{} {}", change.action.symbol(), Untrusted(&change.address));
        let _ = writeln!(
            out,
            "  {}  {}",
            style.paint(change.action, &head),
            style.dim(&format!("({})", Untrusted(&change.reason)))
        );
        for field in &change.fields {
            render_field(&mut out, field, change.action, style);
        }
    }
    human_notices(&mut out, plan, report);
    let _ = writeln!(out, "\n{}", summary_line_for(plan, report));
    out
}

fn human_notices(out: &mut String, plan: &Plan, report: Report) {
    if plan.notices.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{}:", notices_title(report));
    for notice in &plan.notices {
        let _ = writeln!(
            out,
            "  ! {}: {}",
            Untrusted(&notice.address),
            Untrusted(&notice.message)
        );
    }
}

fn notices_title(report: Report) -> &'static str {
    match report {
        Report::Plan => "Noticed (apply leaves these alone)",
        Report::Drift => "Also differs (apply leaves these alone unless told)",
    }
}

fn markdown_notices(out: &mut String, plan: &Plan, report: Report) {
    if plan.notices.is_empty() {
        return;
    }
    let _ = match report {
        Report::Plan => writeln!(out, "\n**Noticed** (apply leaves these alone):\n"),
        Report::Drift => writeln!(
            out,
            "\n**Also differs** (apply leaves these alone unless told):\n"
        ),
    };
    for notice in &plan.notices {
        let _ = writeln!(
            out,
            "- `{}`: {}",
            escape_cell(&notice.address),
            escape_cell(&notice.message)
        );
    }
}

fn render_field(out: &mut String, field: &FieldChange, action: Action, style: Style) {
    let (before, after) = (field.before.as_ref(), field.after.as_ref());
    match (before, after) {
        (Some(Value::String(a)), Some(Value::String(b)))
            if a.contains('\n') || b.contains('\n') =>
        {
            let _ = writeln!(
                out,
                "      {} {}:",
                style.paint(Action::Update, "~"),
                Untrusted(&field.field)
            );
            for line in TextDiff::from_lines(a.as_str(), b.as_str()).iter_all_changes() {
                let (sign, action) = match line.tag() {
                    ChangeTag::Delete => ("-", Action::Delete),
                    ChangeTag::Insert => ("+", Action::Create),
                    ChangeTag::Equal => (" ", Action::NoOp),
                };
                // Multi-line values print as text; hidden characters print escaped.
                let text = format!("{sign} {}", Untrusted(line.value().trim_end_matches('\n')));
                let _ = writeln!(out, "          {}", style.paint(action, &text));
            }
        }
        (None, Some(after)) => {
            let _ = writeln!(
                out,
                "      {} {}: {}",
                style.paint(Action::Create, "+"),
                Untrusted(&field.field),
                compact(after)
            );
        }
        (Some(before), None) => {
            let _ = writeln!(
                out,
                "      {} {}: {}",
                style.paint(Action::Delete, "-"),
                Untrusted(&field.field),
                compact(before)
            );
        }
        (Some(before), Some(after)) => {
            let symbol = if action == Action::Rotate {
                Action::Rotate
            } else {
                Action::Update
            };
            let _ = writeln!(
                out,
                "      {} {}: {} -> {}",
                style.paint(symbol, symbol.symbol()),
                Untrusted(&field.field),
                compact(before),
                compact(after)
            );
        }
        (None, None) => {}
    }
}

/// One-line JSON for a field value; lists of strings stay readable.
fn compact(value: &Value) -> String {
    // JSON escapes control characters; bidirectional overrides and invisible ones are escaped too.
    escape(&serde_json::to_string(value).unwrap_or_default()).into_owned()
}

/// "Plan: 2 to create, 1 to update, 0 to delete, 1 to rotate."
pub fn summary_line(plan: &Plan) -> String {
    summary_line_for(plan, Report::Plan)
}

/// [`summary_line`], worded for `report`: drift counts differences, and the notices apart.
/// For a `--target` run: which apps it is limited to, and that nothing is pruned.
fn targeted_line(plan: &Plan) -> Option<String> {
    if plan.targets.is_empty() {
        return None;
    }
    let named: Vec<String> = plan
        .targets
        .iter()
        .map(|t| Untrusted(t.as_str()).to_string())
        .collect();
    Some(format!(
        "Targeted run (--target {}): only these apps are read and planned; the set's other apps are left alone and nothing is pruned.",
        named.join(", ")
    ))
}

pub fn summary_line_for(plan: &Plan, report: Report) -> String {
    let s = plan.summary();
    let mut line = format!(
        "{}: {} to create, {} to update, {} to delete",
        match report {
            Report::Plan => "Plan",
            Report::Drift => "Drift",
        },
        s.create,
        s.update,
        s.delete
    );
    if s.replace > 0 {
        let _ = write!(line, ", {} to replace", s.replace);
    }
    if s.rotate > 0 {
        let _ = write!(line, ", {} to rotate", s.rotate);
    }
    if report == Report::Drift && !plan.notices.is_empty() {
        let _ = write!(
            line,
            "; {} more difference{} apply leaves alone",
            plan.notices.len(),
            if plan.notices.len() == 1 { "" } else { "s" }
        );
    }
    line.push('.');
    line
}

/// The Markdown view: a summary table and a collapsible diff per changed object.
pub fn markdown(plan: &Plan) -> String {
    markdown_report(plan, Report::Plan)
}

/// [`markdown`], worded for `report`.
pub fn markdown_report(plan: &Plan, report: Report) -> String {
    let mut out = String::new();
    let s = plan.summary();
    let _ = writeln!(
        out,
        "### appreg {}: `{}`\n",
        match report {
            Report::Plan => "plan",
            Report::Drift => "drift",
        },
        escape_cell(&plan.set_name)
    );
    if let Some(line) = targeted_line(plan) {
        let _ = writeln!(out, "{}\n", escape_cell(&line));
    }
    if !plan.has_changes() {
        let _ = writeln!(
            out,
            "{}: the tenant matches the manifest ({} objects checked).",
            match report {
                Report::Plan => "No changes",
                Report::Drift if plan.notices.is_empty() => "No drift",
                Report::Drift => "No drift in what apply manages",
            },
            plan.changes.len()
        );
        markdown_notices(&mut out, plan, report);
        if report == Report::Drift && !plan.notices.is_empty() {
            let _ = writeln!(out, "\n{}", summary_line_for(plan, report));
        }
        return out;
    }
    if report == Report::Drift {
        let _ = writeln!(
            out,
            "The tenant differs from the manifest; `appreg apply` would make these changes.\n"
        );
    }
    let _ = writeln!(
        out,
        "| create | update | delete | replace | rotate | unchanged |\n|---:|---:|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} |\n",
        s.create, s.update, s.delete, s.replace, s.rotate, s.no_op
    );
    let _ = writeln!(out, "| | object | why |\n|---|---|---|");
    for change in plan.changes.iter().filter(|c| c.action.is_write()) {
        let _ = writeln!(
            out,
            "| `{}` {} | `{}` | {} |",
            change.action.symbol(),
            change.action.verb(),
            escape_cell(&change.address),
            escape_cell(&change.reason)
        );
    }
    for change in plan
        .changes
        .iter()
        .filter(|c| c.action.is_write() && !c.fields.is_empty())
    {
        let _ = writeln!(
            out,
            "\n<details><summary><code>{}</code> {}</summary>\n\n```diff",
            escape_html(&change.address),
            change.action.verb()
        );
        for field in &change.fields {
            match (&field.before, &field.after) {
                (Some(Value::String(a)), Some(Value::String(b)))
                    if a.contains('\n') || b.contains('\n') =>
                {
                    let _ = writeln!(out, "  {}:", Untrusted(&field.field));
                    for line in TextDiff::from_lines(a.as_str(), b.as_str()).iter_all_changes() {
                        let sign = match line.tag() {
                            ChangeTag::Delete => "-",
                            ChangeTag::Insert => "+",
                            ChangeTag::Equal => " ",
                        };
                        let _ = writeln!(
                            out,
                            "{sign}   {}",
                            Untrusted(line.value().trim_end_matches('\n'))
                        );
                    }
                }
                (before, after) => {
                    if let Some(b) = before {
                        let _ = writeln!(out, "- {}: {}", Untrusted(&field.field), compact(b));
                    }
                    if let Some(a) = after {
                        let _ = writeln!(out, "+ {}: {}", Untrusted(&field.field), compact(a));
                    }
                }
            }
        }
        let _ = writeln!(out, "```\n\n</details>");
    }
    markdown_notices(&mut out, plan, report);
    let _ = writeln!(out, "\n{}", summary_line_for(plan, report));
    out
}

/// A Markdown table cell: [`escape`]d, and `|` would end the cell.
fn escape_cell(text: &str) -> String {
    escape(text).replace('|', "\\|")
}

fn escape_html(text: &str) -> String {
    escape(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
