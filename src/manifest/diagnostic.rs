//! Problems found in manifests: what, where, and how to fix it.
//!
//! Diagnostics are plain data. `crate::output::diagnostics` renders them for people and as JSON.

use super::source::Location;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable kebab-case identifier of the rule, such as `unknown-field`.
    pub code: &'static str,
    pub message: String,
    /// None for problems that belong to no file (no manifest found at all).
    pub location: Option<Location>,
    /// Short text shown under the offending source.
    pub label: String,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(
        code: &'static str,
        location: Option<Location>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: printable(message.into()),
            location,
            label: String::new(),
            help: None,
        }
    }

    pub fn warning(
        code: &'static str,
        location: Option<Location>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, location, message)
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = printable(label.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(printable(help.into()));
        self
    }

    /// Makes the message, label and help printable and short: hidden characters escaped (also in
    /// a help set directly), each cut after MAX_TEXT characters. The loader's last step.
    pub fn bound(&mut self) {
        self.message = bounded(&self.message);
        self.label = bounded(&self.label);
        self.help = self.help.as_deref().map(bounded);
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Sort key: file, then position; problems without a file come first.
    fn position(&self) -> (Option<&std::path::Path>, usize) {
        match &self.location {
            Some(l) => (Some(l.file.path.as_path()), l.span.start),
            None => (None, 0),
        }
    }
}

/// Longest message, label or help kept, in characters; messages quote manifest values, and a
/// value may be a megabyte long.
const MAX_TEXT: usize = 400;

/// Whether `c` must not reach a terminal as it is: control characters (an ANSI escape sequence
/// would recolor or rewrite the screen), bidirectional overrides and isolates (they reorder what
/// the reader sees), and invisible characters. Tabs and line breaks are left to the caller.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// `text` with every [`is_hidden`] character spelled `\u{..}`, so that it prints as it reads.
pub fn escape_hidden(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_hidden) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_hidden(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// A message, label or help safe to print: hidden characters escaped. Cutting it short waits
/// for [`Diagnostic::bound`], after the loader has replaced interpolated values by what was
/// written (a value cut in half would no longer be found).
fn printable(text: String) -> String {
    match escape_hidden(&text) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(escaped) => escaped,
    }
}

/// `text` escaped and cut after MAX_TEXT characters.
fn bounded(text: &str) -> String {
    let text = escape_hidden(text);
    match text.char_indices().nth(MAX_TEXT) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.into_owned(),
    }
}

/// Sorts diagnostics by file and position, keeping the discovery order of ties.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| a.position().cmp(&b.position()));
}

/// A "did you mean" candidate: the closest of `candidates` to `input`, if close enough to be a typo.
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lowered = input.to_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        if candidate.to_lowercase() == lowered {
            return Some(candidate);
        }
        let score = strsim::jaro_winkler(&lowered, &candidate.to_lowercase());
        if score >= 0.85 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_print_as_they_read() {
        // Each case: text, what a terminal receives, why.
        let cases = [
            ("plain `x`", "plain `x`", "nothing to do"),
            (
                "red \u{1b}[31m",
                "red \\u{1b}[31m",
                "an ANSI escape sequence",
            ),
            (
                "abc\u{202e}fdp.exe",
                "abc\\u{202e}fdp.exe",
                "a bidirectional override",
            ),
            ("pay\u{200b}pal", "pay\\u{200b}pal", "a zero-width space"),
            ("a\nb", "a\\u{a}b", "a line break inside a one-line message"),
        ];
        for (text, shown, why) in cases {
            assert_eq!(Diagnostic::error("x", None, text).message, shown, "{why}");
        }
        let mut long = Diagnostic::error("x", None, "y".repeat(10_000));
        long.bound();
        assert_eq!(
            long.message.chars().count(),
            MAX_TEXT + 1,
            "cut, with an ellipsis"
        );
    }
}
