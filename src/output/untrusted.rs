//! Text appreg did not write itself, made safe to print.
//!
//! appreg runs in CI with a tenant's strongest keys, and prints strings it does not control: names
//! and notes from a manifest in a pull request, display names and error messages from Graph. A
//! CI runner reads every line a step prints: on GitHub Actions a line starting with `::` (after
//! leading spaces) is a workflow command (`::add-mask::`, `::error::`, `::stop-commands::`), on
//! Azure Pipelines `##vso[` and `##[` are logging commands. A terminal obeys escape sequences.
//! So every such string reaches the screen through [`escape`] (or [`Untrusted`]): one line,
//! hidden characters spelled out, and nothing that a runner could take for a command.
//!
//! [`guard_lines`] is the second line of defence at the edge, for whole texts appreg composed
//! (a rendered plan, an error with its `help:` line, a log event): it keeps appreg's own line
//! breaks and colors, and only defuses command prefixes at the start of any line.
//!
//! This module must never be bypassed for a value from outside, and never removes or rewrites
//! appreg's own `::add-mask::` lines (the GitHub sink writes those straight to stdout).

use std::borrow::Cow;
use std::fmt;

use crate::manifest::diagnostic::{escape_hidden, is_hidden};

/// `text` as one printable line: hidden characters (line breaks, ANSI escapes, bidirectional
/// overrides, invisible characters) spelled `\u{..}`, a leading `::` and any `##[`/`##vso[`
/// spelled so that no CI runner reads a command in it.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !needs_escape(text) {
        return Cow::Borrowed(text);
    }
    // Hidden characters are spelled as diagnostics spell them; only the defusing is this module's.
    Cow::Owned(defuse(&escape_hidden(text), false).into_owned())
}

/// [`escape`] as a `Display` wrapper, for `format!("{}", Untrusted(&name))`.
#[derive(Debug, Clone, Copy)]
pub struct Untrusted<'a>(pub &'a str);

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(self.0))
    }
}

/// `text` with its line breaks kept and every line defused as by [`escape`]: for messages that
/// carry appreg's own lines (`help:`, a permission hint) around quoted outside text, such as a
/// Graph error at the edge. Hidden characters other than `\n` are spelled out.
pub fn escape_lines(text: &str) -> Cow<'_, str> {
    if !text.split('\n').any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let lines: Vec<Cow<'_, str>> = text.split('\n').map(escape).collect();
    Cow::Owned(lines.join("\n"))
}

/// Whole output as appreg composed it: the command prefixes are defused at the start of every
/// line, so a value that slipped past [`escape`] still cannot become a workflow command, and
/// `::add-mask::` lines (appreg's own) pass. Without `colors`, every control character but the
/// line break and the tab is written `\u00XX`: readable text, and in JSON output (where such a
/// character can only sit inside a string) the same character, still valid JSON. With `colors`,
/// control characters are left alone so appreg's own colors survive.
pub fn guard_lines(text: &str, colors: bool) -> Cow<'_, str> {
    let stray = |c: char| !colors && c.is_control() && c != '\n' && c != '\t';
    if !text.contains(stray)
        && !text
            .split('\n')
            .any(|line| matches!(defuse(line, true), Cow::Owned(_)))
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        for c in defuse(line, true).chars() {
            if stray(c) {
                out.push_str(&format!("\\u{:04x}", c as u32));
            } else {
                out.push(c);
            }
        }
    }
    Cow::Owned(out)
}

fn needs_escape(text: &str) -> bool {
    text.chars().any(is_hidden) || matches!(defuse(text, false), Cow::Owned(_))
}

fn push_code(out: &mut String, c: char) {
    out.push_str(&format!("\\u{{{:x}}}", c as u32));
}

/// A leading `::` (after spaces, as the GitHub runner trims them) and every `##[` become
/// `\u{3a}:` and `##\u{5b}`, and `##vso[` becomes `##vso\u{5b}`. With `own_mask`, a line that
/// starts with `::add-mask::` is appreg's own and passes.
fn defuse(line: &str, own_mask: bool) -> Cow<'_, str> {
    let body = line.trim_start();
    let leading = body.starts_with("::") && !(own_mask && line.starts_with("::add-mask::"));
    if !leading && !line.contains("##[") && !line.contains("##vso[") {
        return Cow::Borrowed(line);
    }
    let indent = &line[..line.len() - body.len()];
    let mut out = String::with_capacity(line.len() + 16);
    out.push_str(indent);
    let rest = if leading {
        push_code(&mut out, ':');
        &body[1..]
    } else {
        body
    };
    out.push_str(
        &rest
            .replace("##[", "##\\u{5b}")
            .replace("##vso[", "##vso\\u{5b}"),
    );
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No line a runner would obey, and no raw control character.
    fn inert(text: &str) -> bool {
        text.split('\n').all(|line| {
            let body = line.trim_start();
            !body.starts_with("::") && !line.contains("##[") && !line.contains("##vso[")
        }) && !text.contains('\x1b')
    }

    #[test]
    fn escape_defuses_every_trick() {
        // Each case: input, expected, why.
        let cases = [
            ("CRM sync", "CRM sync", "plain text passes as it is"),
            (
                "x\n::warning::pwned",
                "x\\u{a}::warning::pwned",
                "a line break would start a new line",
            ),
            (
                "::error::boom",
                "\\u{3a}:error::boom",
                "a value printed at the start of a line",
            ),
            (
                "  ::error::boom",
                "  \\u{3a}:error::boom",
                "the runner trims leading spaces",
            ),
            ("\t::error::x", "\\u{9}::error::x", "a tab is spelled out"),
            (
                "\x1b[31mred",
                "\\u{1b}[31mred",
                "ANSI escapes never reach a terminal",
            ),
            (
                "a\r::error::x",
                "a\\u{d}::error::x",
                "a carriage return rewrites the line",
            ),
            (
                "##vso[task.setvariable variable=x]1",
                "##vso\\u{5b}task.setvariable variable=x]1",
                "Azure Pipelines logging commands",
            ),
            (
                "see ##[error]x",
                "see ##\\u{5b}error]x",
                "Azure Pipelines formatting anywhere",
            ),
            ("a\u{202e}b", "a\\u{202e}b", "bidirectional override"),
            ("ok: a::b", "ok: a::b", "`::` inside a value is harmless"),
            (
                "::add-mask::x",
                "\\u{3a}:add-mask::x",
                "only appreg writes add-mask lines",
            ),
        ];
        for (input, expected, why) in cases {
            let escaped = escape(input);
            assert_eq!(escaped, expected, "{why}");
            assert!(inert(&escaped), "{why}");
            assert_eq!(Untrusted(input).to_string(), expected, "{why}");
        }
    }

    #[test]
    fn lines_keep_their_breaks_and_lose_their_commands() {
        let text = "DELETE /applications/x: HTTP 400 Bad: evil\n::warning::pwned\x1b[0m\n  this operation needs X";
        let escaped = escape_lines(text);
        assert_eq!(
            escaped,
            "DELETE /applications/x: HTTP 400 Bad: evil\n\\u{3a}:warning::pwned\\u{1b}[0m\n  this operation needs X"
        );
        assert!(inert(&escaped));
        assert!(matches!(escape_lines("a\n  b"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_guard_keeps_colors_and_add_mask() {
        let text = "\x1b[32m+ app.a\x1b[0m\n::add-mask::v\n ::notice::x\nend ##vso[y]";
        assert_eq!(
            guard_lines(text, true),
            "\x1b[32m+ app.a\x1b[0m\n::add-mask::v\n \\u{3a}:notice::x\nend ##vso\\u{5b}y]"
        );
        assert_eq!(
            guard_lines(text, false),
            "\\u001b[32m+ app.a\\u001b[0m\n::add-mask::v\n \\u{3a}:notice::x\nend ##vso\\u{5b}y]"
        );
        assert!(matches!(guard_lines("a\n\tb", false), Cow::Borrowed(_)));
    }

    #[test]
    fn the_guard_keeps_json_valid() {
        let value = serde_json::json!({"name": "a\u{85}b\u{7f}\u{1b}c\n::warning::x"});
        let text = serde_json::to_string_pretty(&value).unwrap();
        let guarded = guard_lines(&text, false);
        assert!(!guarded.contains('\u{85}') && !guarded.contains('\u{7f}'));
        let back: serde_json::Value = serde_json::from_str(&guarded).unwrap();
        assert_eq!(back, value, "the same characters, escaped the JSON way");
    }
}
