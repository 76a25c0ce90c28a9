//! `appreg validate`: load and check manifests offline.

use std::io::Write;
use std::path::PathBuf;

use clap::ValueEnum;

use super::{EXIT_ERROR, EXIT_OK, GlobalArgs};
use crate::manifest::{self, diagnostic::Diagnostic};
use crate::output::diagnostics;

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Manifest files or directories (every *.yaml / *.yml inside, sorted). Default: the current directory.
    #[arg(value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
    /// Treat warnings as errors.
    #[arg(long)]
    pub strict: bool,
    /// Output format: human-readable reports on stderr, or one JSON document on stdout.
    #[arg(long, value_enum, default_value_t = Format::Human)]
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
    match args.format {
        Format::Json => {
            let report = diagnostics::json_report(&diagnostics, !failed);
            let text = serde_json::to_string_pretty(&report).expect("diagnostics serialize");
            let _ = writeln!(std::io::stdout().lock(), "{text}");
        }
        Format::Human => print_human(&diagnostics, global.color.for_stderr(), failed, apps, files),
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
        let _ = write!(err, "{}", diagnostics::render(diagnostic, color));
    }
    if diagnostics.len() > MAX_SHOWN {
        let hidden = diagnostics.len() - MAX_SHOWN;
        let _ = writeln!(
            err,
            "... and {hidden} more problems not shown (`--format json` lists them all)"
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
