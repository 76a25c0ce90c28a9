//! `${env:NAME}` interpolation in string values.
//!
//! Runs on the positioned tree before the schema check, so an unset variable is reported where it is
//! written. `$${` stands for a literal `${`. Only values are interpolated, never keys.

use std::ops::Range;
use std::sync::Arc;

use super::diagnostic::Diagnostic;
use super::source::{Location, SourceFile};
use super::yaml::{MAX_TEXT_BYTES, Node, Value};

/// Reads an environment variable; injected so tests do not depend on the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn interpolate(
    node: &mut Node,
    file: &Arc<SourceFile>,
    env: EnvLookup,
    out: &mut Vec<Diagnostic>,
) {
    // Variables can be long and aliases repeat them: the text they add is bounded like the text
    // aliases add (yaml::MAX_TEXT_BYTES), so memory stays bounded whatever the environment holds.
    let mut budget = MAX_TEXT_BYTES;
    walk(node, file, env, out, &mut budget);
}

fn walk(
    node: &mut Node,
    file: &Arc<SourceFile>,
    env: EnvLookup,
    out: &mut Vec<Diagnostic>,
    budget: &mut usize,
) {
    if *budget == 0 {
        return;
    }
    match &mut node.value {
        Value::Scalar(scalar) if scalar.text.contains('$') => match expand(&scalar.text, env) {
            Ok(text) => {
                let added = text.len().saturating_sub(scalar.text.len());
                if added >= *budget {
                    *budget = 0;
                    out.push(
                        Diagnostic::error(
                            "too-large",
                            Some(Location {
                                file: file.clone(),
                                span: node.span.clone(),
                            }),
                            format!(
                                "environment variables expand the manifest by more than {MAX_TEXT_BYTES} bytes"
                            ),
                        )
                        .with_label("expansion passes the limit here")
                        .with_help("a long variable is repeated many times (often through an alias); write the value once"),
                    );
                    return;
                }
                *budget -= added;
                scalar.text = text;
            }
            Err(problem) => out.push(problem.into_diagnostic(file, &node.span)),
        },
        Value::Seq(items) => items
            .iter_mut()
            .for_each(|n| walk(n, file, env, out, budget)),
        Value::Map(entries) => entries
            .iter_mut()
            .for_each(|e| walk(&mut e.value, file, env, out, budget)),
        _ => {}
    }
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
    Unset { name: String, token: String },
    Malformed { token: String },
}

impl Problem {
    fn into_diagnostic(self, file: &Arc<SourceFile>, span: &Range<usize>) -> Diagnostic {
        let token = match &self {
            Problem::Unset { token, .. } | Problem::Malformed { token } => token.clone(),
        };
        // Point at the token itself when the source spells it out (no escapes in between).
        let source = &file.text[span.clone()];
        let span = match source.find(&token) {
            Some(i) => span.start + i..span.start + i + token.len(),
            None => span.clone(),
        };
        let location = Some(Location {
            file: file.clone(),
            span,
        });
        match self {
            Problem::Unset { name, .. } => Diagnostic::error(
                "unset-variable",
                location,
                format!("environment variable `{}` is not set", quoted(&name)),
            )
            .with_label("needs the variable")
            .with_help(format!(
                "export {}=... before running appreg, or write the value itself",
                quoted(&name)
            )),
            Problem::Malformed { token } => Diagnostic::error(
                "bad-interpolation",
                location,
                format!("`{}` is not a valid interpolation", quoted(&token)),
            )
            .with_label("not `${env:NAME}`")
            .with_help(
                "write `${env:NAME}` for an environment variable, or `$${` for a literal `${`",
            ),
        }
    }
}

fn expand(text: &str, env: EnvLookup) -> Result<String, Problem> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(after) = rest.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if rest.starts_with("${") {
            let Some(end) = rest.find('}') else {
                return Err(Problem::Malformed {
                    token: rest.to_string(),
                });
            };
            let token = &rest[..=end];
            let inner = &rest[2..end];
            let name = inner.strip_prefix("env:").filter(|n| is_variable_name(n));
            let Some(name) = name else {
                return Err(Problem::Malformed {
                    token: token.to_string(),
                });
            };
            match env(name) {
                Some(value) => out.push_str(&value),
                None => {
                    return Err(Problem::Unset {
                        name: name.to_string(),
                        token: token.to_string(),
                    });
                }
            }
            rest = &rest[end + 1..];
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "HOST").then(|| "crm.example.com".to_string())
    }

    #[test]
    fn expands_and_reports() {
        let cases: [(&str, Result<&str, Problem>); 6] = [
            // A set variable is replaced in place.
            ("https://${env:HOST}/x", Ok("https://crm.example.com/x")),
            // `$${` escapes a literal `${`.
            ("cost $${env:HOST}", Ok("cost ${env:HOST}")),
            // A lone dollar is just text.
            ("US$ 5", Ok("US$ 5")),
            // Unset variables are errors, never empty strings.
            (
                "${env:MISSING}",
                Err(Problem::Unset {
                    name: "MISSING".into(),
                    token: "${env:MISSING}".into(),
                }),
            ),
            // A shell-style reference is a mistake worth naming.
            (
                "${HOST}",
                Err(Problem::Malformed {
                    token: "${HOST}".into(),
                }),
            ),
            // An unterminated reference too.
            (
                "${env:HOST",
                Err(Problem::Malformed {
                    token: "${env:HOST".into(),
                }),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(expand(input, &env), expected.map(str::to_string), "{input}");
        }
    }

    #[test]
    fn long_tokens_are_quoted_briefly() {
        let long = format!("${{{}", "e".repeat(100_000));
        let Err(problem) = expand(&long, &env) else {
            panic!("malformed")
        };
        let file = SourceFile::new("t.yaml", format!("x: \"{long}\"\n"));
        let diagnostic = problem.into_diagnostic(&file, &(3..file.text.len() - 1));
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
        let text = format!("l: [{}]\n", vec!["\"${env:BIG}\""; 200].join(","));
        let file = SourceFile::new("t.yaml", text);
        let mut root = super::super::yaml::parse(&file).unwrap();
        let mut out = Vec::new();
        interpolate(&mut root, &file, &big, &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].code, "too-large");
    }
}
