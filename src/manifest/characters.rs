//! One rule for every string of a manifest, keys and values alike: no control characters, no
//! bidirectional overrides or isolates, no line or paragraph separators.
//!
//! Names and texts travel far from the file: into Graph (and on to consent screens and the
//! portal), into OData filters and URLs, file names, `$GITHUB_OUTPUT`, terminals and PR comments.
//! A line break in a secret name can add a line to `$GITHUB_OUTPUT`, an escape sequence rewrites a
//! reviewer's terminal, and a direction override makes a name read as something else. Checking a
//! list of fields would miss the next field added, so this walks every string of the tree.
//! Multi-line prose (`notes`, descriptions) may keep line breaks and tabs; nothing else may.
//!
//! It runs on the text as written, before interpolation (values of variables are checked where they
//! are substituted), and must never quote the offending character raw: it names it as U+XXXX.

use std::ops::Range;
use std::sync::Arc;

use super::diagnostic::Diagnostic;
use super::source::{Location, SourceFile};
use super::structure::describe;
use super::yaml::{Node, Step, Value};

/// Keys whose string value is prose for people, where line breaks and tabs belong.
const PROSE_FIELDS: &[&str] = &[
    "notes",
    "description",
    "adminConsentDescription",
    "userConsentDescription",
];

/// What kind of character `c` is, when no manifest string may hold it.
fn refused(c: char) -> Option<&'static str> {
    match c {
        // C0, DEL and C1.
        c if c.is_control() => Some("a control character"),
        '\u{202a}'..='\u{202e}' => Some("a bidirectional embedding or override"),
        '\u{2066}'..='\u{2069}' => Some("a bidirectional isolate"),
        '\u{2028}' | '\u{2029}' => Some("a line or paragraph separator"),
        _ => None,
    }
}

/// Reports every string in `root` that holds a refused character.
pub fn check(root: &Node, file: &Arc<SourceFile>, out: &mut Vec<Diagnostic>) {
    let mut walker = Walker {
        file,
        out,
        path: Vec::new(),
    };
    walker.node(root, false);
}

struct Walker<'a, 'o> {
    file: &'a Arc<SourceFile>,
    out: &'o mut Vec<Diagnostic>,
    path: Vec<Step>,
}

impl Walker<'_, '_> {
    fn node(&mut self, node: &Node, prose: bool) {
        match &node.value {
            Value::Scalar(scalar) => self.text(&scalar.text, &node.span, prose, "value"),
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.path.push(Step::Index(i));
                    self.node(item, false);
                    self.path.pop();
                }
            }
            Value::Map(entries) => {
                for entry in entries {
                    self.path.push(Step::Key(entry.key.clone()));
                    self.text(&entry.key, &entry.key_span, false, "key");
                    self.node(&entry.value, PROSE_FIELDS.contains(&entry.key.as_str()));
                    self.path.pop();
                }
            }
            Value::Null => {}
        }
    }

    fn text(&mut self, text: &str, span: &Range<usize>, prose: bool, what: &str) {
        let allowed = |c: char| prose && matches!(c, '\n' | '\t');
        // An alias repeats text written (and checked) at its anchor: reported once, there.
        let written = self.file.text.get(span.clone()).unwrap_or_default();
        if written.starts_with('*') {
            return;
        }
        let Some((c, kind)) = text
            .chars()
            .filter(|&c| !allowed(c))
            .find_map(|c| refused(c).map(|kind| (c, kind)))
        else {
            return;
        };
        // Point at the character itself when the file holds it raw; an escape such as `\e` in a
        // double-quoted string leaves only the string to point at.
        let at = match written.find(c) {
            Some(i) => span.start + i..span.start + i + c.len_utf8(),
            None => span.clone(),
        };
        let code = c as u32;
        let help = if matches!(c, '\n' | '\t') {
            format!(
                "line breaks and tabs belong only in prose ({}); write this {what} on one line",
                PROSE_FIELDS
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            format!("remove U+{code:04X}; manifest names and texts hold printable characters only")
        };
        self.out.push(
            Diagnostic::error(
                "control-character",
                Some(Location {
                    file: self.file.clone(),
                    span: at,
                }),
                format!(
                    "the {what} of {} contains U+{code:04X}, {kind}",
                    describe(&self.path)
                ),
            )
            .with_label(format!("U+{code:04X}"))
            .with_help(help),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(yaml: &str) -> Vec<(String, String)> {
        let file = SourceFile::new("t.yaml", yaml.to_string());
        let root = super::super::yaml::parse(&file).unwrap();
        let mut out = Vec::new();
        check(&root, &file, &mut out);
        out.iter()
            .map(|d| (d.location.as_ref().unwrap().to_string(), d.message.clone()))
            .collect()
    }

    /// Manifest text, the (where, message) pairs expected, why.
    type Case = (
        &'static str,
        Vec<(&'static str, &'static str)>,
        &'static str,
    );

    #[test]
    fn every_string_is_checked() {
        let cases: Vec<Case> = vec![
            (
                "a:\n  secrets:\n    - name: \"x\\ny\"\n",
                vec![(
                    "t.yaml:3:13",
                    "the value of `a.secrets[0].name` contains U+000A, a control character",
                )],
                "a line break in a secret name, a field no rule lists",
            ),
            (
                "a:\n  notes: \"x\\ny\\tz\"\n  description: |\n    two\n    lines\n",
                vec![],
                "prose keeps line breaks and tabs",
            ),
            (
                "a:\n  notes: \"x\\e[31m\"\n",
                vec![(
                    "t.yaml:2:10",
                    "the value of `a.notes` contains U+001B, a control character",
                )],
                "but no escape sequence, even in prose",
            ),
            (
                "permissions:\n  \"Graph\\u0085x\": {}\n",
                vec![(
                    "t.yaml:2:3",
                    "the key of `permissions.Graph\\u{85}x` contains U+0085, a control character",
                )],
                "a C1 character in a key",
            ),
            (
                "roles: [ok, \"ab\u{202e}cd\"]\n",
                vec![(
                    "t.yaml:1:16",
                    "the value of `roles[1]` contains U+202E, a bidirectional embedding or override",
                )],
                "a raw override is pointed at exactly",
            ),
            (
                "x: \"a\u{2067}b\"\ny: \"a\u{2028}b\"\n",
                vec![
                    (
                        "t.yaml:1:6",
                        "the value of `x` contains U+2067, a bidirectional isolate",
                    ),
                    (
                        "t.yaml:2:6",
                        "the value of `y` contains U+2028, a line or paragraph separator",
                    ),
                ],
                "isolates and separators",
            ),
            (
                "a: &a \"x\\ty\"\nb: [*a, *a]\n",
                vec![(
                    "t.yaml:1:7",
                    "the value of `a` contains U+0009, a control character",
                )],
                "once where it is written, however often aliases repeat it",
            ),
            (
                "x: \"caf\u{e9} \u{200b} \u{1f600}\"\n",
                vec![],
                "other Unicode is text (zero-width characters are printed escaped)",
            ),
        ];
        for (yaml, expected, why) in cases {
            let expected: Vec<(String, String)> = expected
                .iter()
                .map(|(a, m)| (a.to_string(), m.to_string()))
                .collect();
            assert_eq!(problems(yaml), expected, "{why}");
        }
    }
}
