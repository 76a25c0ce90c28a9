//! `${var:NAME}` interpolation in string values.
//!
//! appreg runs in CI on pull requests with a tenant's most powerful keys in its environment, and
//! a manifest may come from anyone who can open a pull request. So interpolation reads only the
//! variables meant for it: `${var:NAME}` is the value of `APPREG_VAR_NAME` (Terraform's `TF_VAR_`
//! convention), and the old `${env:NAME}`, which could read any variable (`AZURE_CLIENT_SECRET`
//! among them), is refused where it is written. This module must never look up a variable whose
//! name does not start with [`VARIABLE_PREFIX`], and no diagnostic may quote an expanded value:
//! [`Expansions::redact`] puts the written text back into every message.
//!
//! Runs on the positioned tree before the schema check, so an unset variable is reported where it
//! is written. `$${` stands for a literal `${`. Only values are interpolated, never keys.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use super::diagnostic::{Diagnostic, is_hidden};
use super::source::{Location, SourceFile};
use super::yaml::{MAX_TEXT_BYTES, Node, Value};

/// Reads an environment variable; injected so tests do not depend on the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// `${var:NAME}` reads the environment variable `APPREG_VAR_NAME`, and nothing else.
pub const VARIABLE_PREFIX: &str = "APPREG_VAR_";

/// Shortest value replaced wherever a message repeats it. Shorter values are words and digits
/// that messages use anyway (`1`, `api`); replacing them would garble the text around them, and a
/// secret is never that short. (The scalar a diagnostic points at is put back whatever its length.)
const MIN_REDACTED_CHARS: usize = 4;

/// Most interpolated scalars put back into one diagnostic (one that points at a whole app may
/// cover thousands); the values in the rest are still replaced.
const MAX_SCALARS_PER_DIAGNOSTIC: usize = 64;

/// What interpolation substituted in one file, so that messages can show the written text.
#[derive(Debug)]
pub struct Expansions {
    file: Arc<SourceFile>,
    /// Span start of each interpolated scalar -> (span end, text as written, text expanded). An
    /// alias repeats its anchor's span, so the table is no larger than the file.
    scalars: BTreeMap<usize, (usize, String, String)>,
    /// Variable name (without the prefix) -> its value.
    variables: BTreeMap<String, String>,
}

/// Puts the written text back into diagnostics, for every file of a run.
pub struct Redactor<'a> {
    expansions: &'a [Expansions],
    /// Every variable value long enough to replace (ASCII-lowercased), longest first, with the
    /// `${var:NAME}` standing for it. As few as the variables the operator set, whatever the
    /// manifest says: a manifest can only name variables that exist.
    values: Vec<(String, String)>,
}

impl<'a> Redactor<'a> {
    pub fn new(expansions: &'a [Expansions]) -> Redactor<'a> {
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        for expansion in expansions {
            for (name, value) in &expansion.variables {
                if value.chars().count() >= MIN_REDACTED_CHARS {
                    values.insert(value.to_ascii_lowercase(), format!("${{var:{name}}}"));
                }
            }
        }
        let mut values: Vec<(String, String)> = values.into_iter().collect();
        values.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
        Redactor { expansions, values }
    }

    /// Replaces, in the message, label and help of `diagnostic`, each interpolated scalar it
    /// points at by the text written in the manifest, then every remaining occurrence of a
    /// variable's value by its `${var:NAME}`.
    pub fn redact(&self, diagnostic: &mut Diagnostic) {
        let mut scalars: Vec<(&str, &str)> = Vec::new();
        if let Some(location) = &diagnostic.location {
            let span = &location.span;
            for expansion in self
                .expansions
                .iter()
                .filter(|e| Arc::ptr_eq(&e.file, &location.file))
            {
                // The scalar the diagnostic points into, and those inside what it points at.
                let around = expansion
                    .scalars
                    .range(..=span.start)
                    .next_back()
                    .filter(|(_, (end, ..))| *end > span.start);
                let inside = expansion
                    .scalars
                    .range(span.start..span.end.max(span.start + 1));
                scalars.extend(
                    around
                        .into_iter()
                        .chain(inside)
                        .take(MAX_SCALARS_PER_DIAGNOSTIC)
                        .map(|(_, (_, written, expanded))| (expanded.as_str(), written.as_str())),
                );
            }
        }
        scalars.sort_by_key(|(expanded, _)| std::cmp::Reverse(expanded.len()));
        let fields = [
            Some(&mut diagnostic.message),
            Some(&mut diagnostic.label),
            diagnostic.help.as_mut(),
        ];
        for text in fields.into_iter().flatten() {
            for (expanded, written) in &scalars {
                if !expanded.is_empty() && text.contains(expanded) {
                    *text = text.replace(expanded, written);
                }
            }
            // A rule may suggest another spelling (a lowercase set name): any ASCII case.
            for (value, token) in &self.values {
                *text = replace_ignoring_ascii_case(text, value, token);
            }
        }
    }
}

/// `text` with every occurrence of `lower_needle` (ASCII-lowercased), compared without regard to
/// ASCII case, replaced by `with`.
fn replace_ignoring_ascii_case(text: &str, lower_needle: &str, with: &str) -> String {
    let lower_text = text.to_ascii_lowercase();
    if !lower_text.contains(lower_needle) {
        return text.to_string();
    }
    // ASCII lowercasing keeps every byte offset, so positions found in the copy hold in `text`.
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    while let Some(i) = lower_text[from..].find(lower_needle) {
        out.push_str(&text[from..from + i]);
        out.push_str(with);
        from += i + lower_needle.len();
    }
    out.push_str(&text[from..]);
    out
}

/// Expands every `${var:NAME}` in the values of `node`, reporting problems into `out`; returns
/// what was substituted, for [`Redactor`].
pub fn interpolate(
    node: &mut Node,
    file: &Arc<SourceFile>,
    env: EnvLookup,
    out: &mut Vec<Diagnostic>,
) -> Expansions {
    // Variables can be long and aliases repeat them: the text they add is bounded like the text
    // aliases add (yaml::MAX_TEXT_BYTES), so memory stays bounded whatever the environment holds.
    let mut walker = Walker {
        file,
        env,
        out,
        budget: MAX_TEXT_BYTES,
        expansions: Expansions {
            file: file.clone(),
            scalars: BTreeMap::new(),
            variables: BTreeMap::new(),
        },
    };
    walker.walk(node);
    walker.expansions
}

struct Walker<'a, 'o> {
    file: &'a Arc<SourceFile>,
    env: EnvLookup<'a>,
    out: &'o mut Vec<Diagnostic>,
    budget: usize,
    expansions: Expansions,
}

impl Walker<'_, '_> {
    fn walk(&mut self, node: &mut Node) {
        if self.budget == 0 {
            return;
        }
        match &mut node.value {
            Value::Scalar(scalar) if scalar.text.contains('$') => {
                match expand(&scalar.text, self.env) {
                    Ok(expanded) => {
                        let added = expanded.text.len().saturating_sub(scalar.text.len());
                        if added >= self.budget {
                            self.budget = 0;
                            self.out.push(too_large(self.file, &node.span));
                            return;
                        }
                        self.budget -= added;
                        if !expanded.variables.is_empty() {
                            self.expansions.scalars.insert(
                                node.span.start,
                                (node.span.end, scalar.text.clone(), expanded.text.clone()),
                            );
                            self.expansions.variables.extend(expanded.variables);
                        }
                        scalar.text = expanded.text;
                    }
                    Err(problems) => self.out.extend(
                        problems
                            .into_iter()
                            .map(|p| p.into_diagnostic(self.file, &node.span)),
                    ),
                }
            }
            Value::Seq(items) => items.iter_mut().for_each(|n| self.walk(n)),
            Value::Map(entries) => entries.iter_mut().for_each(|e| self.walk(&mut e.value)),
            _ => {}
        }
    }
}

fn too_large(file: &Arc<SourceFile>, span: &Range<usize>) -> Diagnostic {
    Diagnostic::error(
        "too-large",
        Some(Location {
            file: file.clone(),
            span: span.clone(),
        }),
        format!("`${{var:...}}` values expand the manifest by more than {MAX_TEXT_BYTES} bytes"),
    )
    .with_label("expansion passes the limit here")
    .with_help(
        "a long variable is repeated many times (often through an alias); write the value once",
    )
}

/// Longest piece of a malformed token quoted in a message; the label points at all of it.
const MAX_QUOTED: usize = 40;

/// `token` for a message: cut short (on a character boundary) when long.
fn quoted(token: &str) -> String {
    match token.char_indices().nth(MAX_QUOTED) {
        Some((at, _)) => format!("{}…", &token[..at]),
        None => token.to_string(),
    }
}

#[derive(Debug, PartialEq)]
enum Problem {
    Unset {
        name: String,
        token: String,
    },
    Malformed {
        token: String,
    },
    /// `${env:NAME}`: would read any variable of the process, secrets included.
    EnvRefused {
        name: String,
        token: String,
    },
    /// The variable's value holds a character that would change what a reader or a terminal sees
    /// (only its code point is named: the value itself is never quoted).
    HiddenCharacter {
        name: String,
        token: String,
        character: char,
    },
}

impl Problem {
    fn token(&self) -> &str {
        match self {
            Problem::Unset { token, .. }
            | Problem::Malformed { token }
            | Problem::EnvRefused { token, .. }
            | Problem::HiddenCharacter { token, .. } => token,
        }
    }

    fn into_diagnostic(self, file: &Arc<SourceFile>, span: &Range<usize>) -> Diagnostic {
        // Point at the token itself when the source spells it out (no escapes in between).
        let token = self.token();
        let source = &file.text[span.clone()];
        let span = match source.find(token) {
            Some(i) => span.start + i..span.start + i + token.len(),
            None => span.clone(),
        };
        let location = Some(Location {
            file: file.clone(),
            span,
        });
        match self {
            Problem::Unset { name, .. } => {
                let name = quoted(&name);
                Diagnostic::error(
                    "unset-variable",
                    location,
                    format!("`${{var:{name}}}` needs the environment variable `{VARIABLE_PREFIX}{name}`, which is not set"),
                )
                .with_label("needs the variable")
                .with_help(format!(
                    "export {VARIABLE_PREFIX}{name}=... before running appreg, or write the value itself"
                ))
            }
            Problem::Malformed { token } => Diagnostic::error(
                "bad-interpolation",
                location,
                format!("`{}` is not a valid interpolation", quoted(&token)),
            )
            .with_label("not `${var:NAME}`")
            .with_help(format!(
                "write `${{var:NAME}}` for the value of the environment variable {VARIABLE_PREFIX}NAME, or `$${{` for a literal `${{`"
            )),
            Problem::EnvRefused { name, .. } => {
                let name = quoted(&name);
                Diagnostic::error(
                    "env-interpolation-refused",
                    location,
                    format!("`${{env:{name}}}` would read any environment variable; a manifest from a pull request must not be able to read the runner's secrets"),
                )
                .with_label("reads the environment")
                .with_help(format!(
                    "export {VARIABLE_PREFIX}{name}=... before running appreg and write `${{var:{name}}}`: only variables named {VARIABLE_PREFIX}* can be read"
                ))
            }
            Problem::HiddenCharacter {
                name, character, ..
            } => {
                let name = quoted(&name);
                Diagnostic::error(
                    "bad-variable-value",
                    location,
                    format!(
                        "the value of `{VARIABLE_PREFIX}{name}` contains U+{:04X}, a control or invisible character",
                        character as u32
                    ),
                )
                .with_label("its value is not plain text")
                .with_help(format!(
                    "set {VARIABLE_PREFIX}{name} to one line of printable text (no line breaks, escapes or direction marks)"
                ))
            }
        }
    }
}

/// A scalar after expansion, with the variables that went into it.
#[derive(Debug, PartialEq)]
struct Expanded {
    text: String,
    variables: Vec<(String, String)>,
}

/// Expands one scalar. Every problem in it is reported, each at its own token.
fn expand(text: &str, env: EnvLookup) -> Result<Expanded, Vec<Problem>> {
    let mut out = String::with_capacity(text.len());
    let mut variables = Vec::new();
    let mut problems = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(after) = rest.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
            continue;
        }
        if !rest.starts_with("${") {
            out.push('$');
            rest = &rest[1..];
            continue;
        }
        let Some(end) = rest.find('}') else {
            problems.push(Problem::Malformed {
                token: rest.to_string(),
            });
            break;
        };
        let token = rest[..=end].to_string();
        let inner = &rest[2..end];
        rest = &rest[end + 1..];
        if let Some(name) = inner.strip_prefix("env:").filter(|n| is_variable_name(n)) {
            problems.push(Problem::EnvRefused {
                name: name.to_string(),
                token,
            });
            continue;
        }
        let Some(name) = inner.strip_prefix("var:").filter(|n| is_variable_name(n)) else {
            problems.push(Problem::Malformed { token });
            continue;
        };
        match env(&format!("{VARIABLE_PREFIX}{name}")) {
            Some(value) => match value.chars().find(|&c| is_hidden(c)) {
                Some(character) => problems.push(Problem::HiddenCharacter {
                    name: name.to_string(),
                    token,
                    character,
                }),
                None => {
                    out.push_str(&value);
                    variables.push((name.to_string(), value));
                }
            },
            None => problems.push(Problem::Unset {
                name: name.to_string(),
                token,
            }),
        }
    }
    out.push_str(rest);
    if problems.is_empty() {
        Ok(Expanded {
            text: out,
            variables,
        })
    } else {
        Err(problems)
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`: what a shell accepts as a variable name.
fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "APPREG_VAR_HOST" => Some("crm.example.com".to_string()),
            "APPREG_VAR_ESC" => Some("red \u{1b}[31m".to_string()),
            // What `${env:...}` used to reach: a secret of the runner.
            "AZURE_CLIENT_SECRET" | "HOST" => Some("s3cr3t-value".to_string()),
            _ => None,
        }
    }

    fn expanded(text: &str, variables: &[(&str, &str)]) -> Result<Expanded, Vec<Problem>> {
        Ok(Expanded {
            text: text.to_string(),
            variables: variables
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        })
    }

    /// Scalar text, what it expands to, why.
    type Case = (&'static str, Result<Expanded, Vec<Problem>>, &'static str);

    #[test]
    fn expands_and_reports() {
        let cases: Vec<Case> = vec![
            (
                "https://${var:HOST}/x",
                expanded("https://crm.example.com/x", &[("HOST", "crm.example.com")]),
                "a set variable is replaced in place, read from APPREG_VAR_HOST",
            ),
            (
                "cost $${var:HOST}",
                expanded("cost ${var:HOST}", &[]),
                "`$${` escapes a literal `${`",
            ),
            (
                "US$ 5",
                expanded("US$ 5", &[]),
                "a lone dollar is just text",
            ),
            (
                "${var:MISSING}",
                Err(vec![Problem::Unset {
                    name: "MISSING".into(),
                    token: "${var:MISSING}".into(),
                }]),
                "unset variables are errors, never empty strings",
            ),
            (
                "${env:AZURE_CLIENT_SECRET}",
                Err(vec![Problem::EnvRefused {
                    name: "AZURE_CLIENT_SECRET".into(),
                    token: "${env:AZURE_CLIENT_SECRET}".into(),
                }]),
                "the old syntax is refused even though the variable is set",
            ),
            (
                "${var:AZURE_CLIENT_SECRET}",
                Err(vec![Problem::Unset {
                    name: "AZURE_CLIENT_SECRET".into(),
                    token: "${var:AZURE_CLIENT_SECRET}".into(),
                }]),
                "`${var:X}` reads APPREG_VAR_X only, never X itself",
            ),
            (
                "${var:ESC}",
                Err(vec![Problem::HiddenCharacter {
                    name: "ESC".into(),
                    token: "${var:ESC}".into(),
                    character: '\u{1b}',
                }]),
                "a value with an escape sequence is refused",
            ),
            (
                "${var:1X} ${env:} ${var:A-B}",
                Err(vec![
                    Problem::Malformed {
                        token: "${var:1X}".into(),
                    },
                    Problem::Malformed {
                        token: "${env:}".into(),
                    },
                    Problem::Malformed {
                        token: "${var:A-B}".into(),
                    },
                ]),
                "names are `[A-Za-z_][A-Za-z0-9_]*`; every bad token is reported",
            ),
            (
                "${HOST}",
                Err(vec![Problem::Malformed {
                    token: "${HOST}".into(),
                }]),
                "a shell-style reference is a mistake worth naming",
            ),
            (
                "${var:HOST",
                Err(vec![Problem::Malformed {
                    token: "${var:HOST".into(),
                }]),
                "an unterminated reference too",
            ),
        ];
        for (input, expected, why) in cases {
            assert_eq!(expand(input, &env), expected, "{input}: {why}");
        }
    }

    #[test]
    fn long_tokens_are_quoted_briefly() {
        let long = format!("${{{}", "e".repeat(100_000));
        let Err(mut problems) = expand(&long, &env) else {
            panic!("malformed")
        };
        let file = SourceFile::new("t.yaml", format!("x: \"{long}\"\n"));
        let diagnostic = problems
            .remove(0)
            .into_diagnostic(&file, &(3..file.text.len() - 1));
        assert!(
            diagnostic.message.len() < 200,
            "{}",
            diagnostic.message.len()
        );
    }

    #[test]
    fn expansion_is_bounded() {
        // Why: aliases repeat a variable's value; 200 copies of 100 kB pass 16 MiB.
        let big = |_: &str| Some("v".repeat(100_000));
        let text = format!("l: [{}]\n", vec!["\"${var:BIG}\""; 200].join(","));
        let file = SourceFile::new("t.yaml", text);
        let mut root = super::super::yaml::parse(&file).unwrap();
        let mut out = Vec::new();
        interpolate(&mut root, &file, &big, &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].code, "too-large");
    }

    #[test]
    fn messages_show_what_was_written() {
        let file = SourceFile::new(
            "t.yaml",
            "x: \"${var:HOST}/a b\"\ny: \"${var:SHORT}\"\n".to_string(),
        );
        let lookup = |name: &str| match name {
            "APPREG_VAR_SHORT" => Some("dev".to_string()),
            other => env(other),
        };
        let mut root = super::super::yaml::parse(&file).unwrap();
        let expansions = [interpolate(&mut root, &file, &lookup, &mut Vec::new())];
        let redactor = Redactor::new(&expansions);
        let x = 3..20;
        let y = 24..38;
        // Each case: where a rule reports, the message it builds, what is shown, why.
        let cases = [
            (
                Some(x.clone()),
                "`crm.example.com/a b` has a space",
                "`${var:HOST}/a b` has a space",
                "the scalar pointed at is put back as written",
            ),
            (
                None,
                "host `crm.example.com` is not allowed",
                "host `${var:HOST}` is not allowed",
                "a value anywhere, even without a place",
            ),
            (
                None,
                "try `CRM.EXAMPLE.COM`",
                "try `${var:HOST}`",
                "the value in another case",
            ),
            (
                Some(y.clone()),
                "`dev` is too short",
                "`${var:SHORT}` is too short",
                "a short value in the scalar pointed at",
            ),
            (
                Some(x.clone()),
                "a dev build",
                "a dev build",
                "short values elsewhere are words",
            ),
            (None, "nothing to hide", "nothing to hide", "untouched"),
        ];
        for (span, message, shown, why) in cases {
            let location = span.map(|span| Location {
                file: file.clone(),
                span,
            });
            let mut diagnostic =
                Diagnostic::error("x", location, message).with_help(message.to_string());
            redactor.redact(&mut diagnostic);
            assert_eq!(diagnostic.message, shown, "{why}");
            assert_eq!(diagnostic.help.as_deref(), Some(shown), "{why} (help)");
        }
    }
}
