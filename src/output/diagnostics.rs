//! Diagnostics for people (miette's graphical report: file:line:column, the source line, a label under
//! the offending text, a `help:` line) and for machines (JSON with a format version).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    SourceCode, SourceSpan, SpanContents,
};
use serde::Serialize;

use crate::manifest::diagnostic::{Diagnostic, Severity, is_hidden};
use crate::manifest::source::SourceFile;

/// Renders one diagnostic as text. `color` adds ANSI styling; `width` wraps long messages.
pub fn render(diagnostic: &Diagnostic, color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false)
        .with_context_lines(1);
    let mut out = String::new();
    let report = Report {
        diagnostic,
        source: diagnostic
            .location
            .as_ref()
            .map(|l| Excerpt::new(&l.file, &l.span)),
    };
    if handler.render_report(&mut out, &report).is_err() {
        // Rendering into a String cannot fail; fall back to the plain line anyway.
        out = format!(
            "{}: {}\n",
            severity_word(diagnostic.severity),
            diagnostic.message
        );
    }
    out
}

/// One line summing up a validation run, such as "2 errors, 1 warning".
pub fn summary(diagnostics: &[Diagnostic]) -> String {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}, {}",
        plural(errors, "error"),
        plural(warnings, "warning")
    )
}

fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

struct Report<'a> {
    diagnostic: &'a Diagnostic,
    /// The lines around the problem, so the report's header reads path:line:column.
    source: Option<Excerpt>,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(format!(
            "{}[{}]",
            severity_word(self.diagnostic.severity),
            self.diagnostic.code
        )))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let excerpt = self.source.as_ref()?;
        let span = SourceSpan::new(excerpt.span.start.into(), excerpt.span.len());
        let label = (!self.diagnostic.label.is_empty()).then(|| self.diagnostic.label.clone());
        Some(Box::new(std::iter::once(
            LabeledSpan::new_primary_with_span(label, span),
        )))
    }
}

/// Machine-readable diagnostics, `appreg validate --json` (schemas/validate.schema.json).
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JsonReport<'a> {
    pub format_version: u32,
    pub valid: bool,
    pub errors: usize,
    pub warnings: usize,
    pub diagnostics: Vec<JsonDiagnostic<'a>>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JsonDiagnostic<'a> {
    pub severity: Severity,
    pub code: &'a str,
    pub message: &'a str,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub end_line: Option<usize>,
    pub end_column: Option<usize>,
    pub label: &'a str,
    pub help: Option<&'a str>,
}

pub fn json_report(diagnostics: &[Diagnostic], valid: bool) -> JsonReport<'_> {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    JsonReport {
        // machine::FORMAT_VERSION is this same constant; naming it here would make a circle.
        format_version: crate::engine::plan::FORMAT_VERSION,
        valid,
        errors,
        warnings: diagnostics.len() - errors,
        diagnostics: diagnostics
            .iter()
            .map(|d| {
                let start = d.location.as_ref().map(|l| l.line_col());
                let end = d.location.as_ref().map(|l| l.file.line_col(l.span.end));
                JsonDiagnostic {
                    severity: d.severity,
                    code: d.code,
                    message: &d.message,
                    file: d
                        .location
                        .as_ref()
                        .map(|l| l.file.path.display().to_string()),
                    line: start.map(|s| s.0),
                    column: start.map(|s| s.1),
                    end_line: end.map(|e| e.0),
                    end_column: end.map(|e| e.1),
                    label: &d.label,
                    help: d.help.as_deref(),
                }
            })
            .collect(),
    }
}

/// Longest source line shown whole; longer lines are cut to a window around the problem.
const MAX_LINE: usize = 200;
/// Bytes shown on each side of the problem in a cut line.
const WINDOW: usize = 60;

/// The few lines around a problem, long lines cut short, reporting positions of the real file.
///
/// Showing the whole file would copy it once per diagnostic, and a line of a hundred thousand
/// characters would be printed whole (and past column 65,535 miette cannot draw at all).
struct Excerpt {
    name: String,
    text: String,
    file: Arc<SourceFile>,
    /// (offset in `text`, offset in the file, length) of each copied piece.
    pieces: Vec<(usize, usize, usize)>,
    /// The problem's span in `text`.
    span: Range<usize>,
}

impl Excerpt {
    fn new(file: &Arc<SourceFile>, span: &Range<usize>) -> Excerpt {
        let source = file.text.as_str();
        let start = span.start.min(source.len());
        let line_start = |at: usize| source[..at].rfind('\n').map_or(0, |i| i + 1);
        let line_end = |at: usize| source[at..].find('\n').map_or(source.len(), |i| at + i);
        // One line of context before and after the problem's first line.
        let first = line_start(line_start(start).saturating_sub(1));
        let mut last = line_end(start);
        if last < source.len() {
            last = line_end(last + 1);
        }
        let mut excerpt = Excerpt {
            name: file.path.display().to_string(),
            text: String::new(),
            file: file.clone(),
            pieces: Vec::new(),
            span: 0..0,
        };
        let mut at = first;
        // A final newline ends the last line; it does not start an empty one.
        while at <= last && (at < source.len() || at == first) {
            let end = line_end(at);
            let (from, to) = if end - at <= MAX_LINE {
                (at, end)
            } else if (at..=end).contains(&start) {
                let from = floor(source, start.saturating_sub(WINDOW).max(at));
                (
                    from,
                    ceil(
                        source,
                        (span.end.max(start + 1) + WINDOW)
                            .min(end)
                            .min(from + MAX_LINE),
                    ),
                )
            } else {
                (at, ceil(source, at + MAX_LINE / 2))
            };
            if from > at {
                excerpt.text.push('…');
            }
            excerpt.pieces.push((excerpt.text.len(), from, to - from));
            excerpt.text.extend(source[from..to].chars().map(shown));
            if to < end {
                excerpt.text.push('…');
            }
            excerpt.text.push('\n');
            at = end + 1;
        }
        let mapped = excerpt
            .pieces
            .iter()
            .find(|(_, real, len)| (*real..=real + len).contains(&start));
        excerpt.span = match mapped {
            Some(&(text_at, real, len)) => {
                let begin = text_at + (start - real);
                // A span may take in the line break after a whole line, as in the file itself.
                let line_break = usize::from(excerpt.text[text_at + len..].starts_with('\n'));
                begin..text_at + (span.end.max(start).min(real + len + line_break) - real)
            }
            None => 0..0,
        };
        excerpt
    }

    /// The file offset of an offset in the excerpt (an ellipsis maps to the next copied piece).
    fn real_offset(&self, at: usize) -> usize {
        self.pieces
            .iter()
            .find(|(text_at, _, len)| at <= text_at + len)
            .map_or(self.file.text.len(), |&(text_at, real, _)| {
                real + at.saturating_sub(text_at)
            })
    }
}

/// A source character as the excerpt shows it: hidden characters (an ANSI escape sequence, a
/// bidirectional override) become a replacement of the same length in bytes, so the file's raw
/// bytes never reach the terminal and offsets in the excerpt stay those of the file.
fn shown(c: char) -> char {
    if c == '\t' || c == '\r' || !is_hidden(c) {
        return c;
    }
    match c.len_utf8() {
        3 => '\u{fffd}',
        2 => '\u{bf}',
        _ => '?',
    }
}

fn floor(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner = self.text.read_span(span, before, after)?;
        let (line, column) = self.file.line_col(self.real_offset(inner.span().offset()));
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            line - 1,
            column - 1,
            inner.line_count(),
        )))
    }
}
