//! `appreg validate`: load and check manifests offline.

use std::io::Write;
use std::path::PathBuf;

use clap::ValueEnum;

use super::{EXIT_ERROR, EXIT_OK, GlobalArgs};
use crate::manifest::{self, diagnostic::Diagnostic};
use crate::output::diagnostics;
use crate::output::untrusted::guard_lines;

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Manifest files or directories (every *.yaml / *.yml inside, sorted). Default: the current directory.
    #[arg(value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
    /// Treat warnings as errors.
    #[arg(long)]
    pub strict: bool,
    /// Print one JSON document on stdout (format: `appreg schema validate`) instead of the
    /// human-readable reports on stderr.
    #[arg(long)]
    pub json: bool,
    /// The older spelling of `--json` (`--format json`), kept so existing pipelines run.
    #[arg(long, value_enum, default_value_t = Format::Human, hide = true)]
    pub format: Format,
}

/// Reports shown on a terminal; more would bury the first ones, which are usually the cause.
const MAX_SHOWN: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

pub fn run(global: &GlobalArgs, args: &ValidateArgs) -> u8 {
    let env = |name: &str| std::env::var(name).ok();
    tracing::info!(paths = ?args.paths, "validating manifests");
    global.note_as_of();
    let (diagnostics, apps, files) = match manifest::load_on(&args.paths, &env, global.today()) {
        Ok(loaded) => (loaded.warnings, loaded.state.apps.len(), loaded.files.len()),
        Err(invalid) => (invalid.diagnostics, 0, 0),
    };
    let failed = diagnostics.iter().any(|d| d.is_error() || args.strict);
    if args.json || args.format == Format::Json {
        let report = diagnostics::json_report(&diagnostics, !failed);
        let text = crate::output::machine::to_json(&report);
        let _ = write!(std::io::stdout().lock(), "{}", guard_lines(&text, false));
    } else {
        print_human(&diagnostics, global.color.for_stderr(), failed, apps, files);
    }
    if failed { EXIT_ERROR } else { EXIT_OK }
}

pub(super) fn print_human(
    diagnostics: &[Diagnostic],
    color: bool,
    failed: bool,
    apps: usize,
    files: usize,
) {
    let mut err = std::io::stderr().lock();
    for diagnostic in diagnostics.iter().take(MAX_SHOWN) {
        let _ = write!(
            err,
            "{}",
            guard_lines(&diagnostics::render(diagnostic, color), color)
        );
    }
    if diagnostics.len() > MAX_SHOWN {
        let hidden = diagnostics.len() - MAX_SHOWN;
        let _ = writeln!(
            err,
            "... and {hidden} more problems not shown (`--json` lists them all)"
        );
    }
    let summary = diagnostics::summary(diagnostics);
    let _ = if failed {
        writeln!(err, "invalid: {summary}")
    } else {
        let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        writeln!(
            err,
            "valid: {} in {} ({summary})",
            plural(apps, "app"),
            plural(files, "file")
        )
    };
}
