//! What the commands that reach a tenant share: loading the manifest (reporting problems like
//! `validate`), a runtime, and printing errors.

use std::path::PathBuf;

use super::GlobalArgs;
use crate::manifest::{self, Loaded};
use crate::output::untrusted::{escape_lines, guard_lines};

/// Loads and validates; on failure prints the diagnostics and returns None. Warnings are printed
/// and do not stop the run.
pub fn load(global: &GlobalArgs, paths: &[PathBuf]) -> Option<Loaded> {
    load_strict(global, paths, false)
}

/// [`load`]; with `strict`, warnings stop the run too, before anything reaches the tenant.
pub fn load_strict(global: &GlobalArgs, paths: &[PathBuf], strict: bool) -> Option<Loaded> {
    let env = |name: &str| std::env::var(name).ok();
    let color = global.color.for_stderr();
    global.note_as_of();
    match manifest::load_on(paths, &env, global.today()) {
        Ok(loaded) if strict && !loaded.warnings.is_empty() => {
            super::validate::print_human(&loaded.warnings, color, true, 0, 0);
            eprintln!("error: --strict: warnings count as errors; nothing was sent to the tenant");
            None
        }
        Ok(loaded) => {
            if !loaded.warnings.is_empty() {
                super::validate::print_human(
                    &loaded.warnings,
                    color,
                    false,
                    loaded.state.apps.len(),
                    loaded.files.len(),
                );
            }
            Some(loaded)
        }
        Err(invalid) => {
            super::validate::print_human(&invalid.diagnostics, color, true, 0, 0);
            eprintln!("error: the manifest is invalid; nothing was sent to the tenant");
            None
        }
    }
}

/// Checks the manifest's http(s) identifierUris against the tenant's verified domains (read only
/// when there is such a URI), before anything is planned or written. On a problem prints it at
/// its file:line:column and answers false. A tenant that will not show its domains (the identity
/// lacks Domain.Read.All) is a warning: Graph still refuses a wrong host when it is written.
pub async fn check_verified_domains(
    global: &GlobalArgs,
    client: &crate::graph::GraphClient,
    loaded: &Loaded,
) -> bool {
    use crate::manifest::domains;
    if !domains::needs_verified_domains(&loaded.identifier_uris) {
        return true;
    }
    let verified = match crate::engine::domains::verified_domains(client).await {
        Ok(verified) => verified,
        Err(error) => {
            eprintln!(
                "warning: could not read the tenant's verified domains ({error}); identifierUris are not checked against them before writing"
            );
            return true;
        }
    };
    let problems = domains::check_identifier_uri_hosts(&loaded.identifier_uris, &verified);
    if problems.is_empty() {
        return true;
    }
    super::validate::print_human(&problems, global.color.for_stderr(), true, 0, 0);
    eprintln!("error: the manifest does not fit the tenant; nothing was sent to the tenant");
    false
}

/// Runs a command's async body on a runtime of its own.
pub fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
        .block_on(future)
}

/// Prints an error for the user and returns the error exit code. Errors quote text from outside
/// (Graph's messages, names from the manifest or the tenant), so every line is escaped here, the
/// one place every command's errors pass.
pub fn fail(message: impl std::fmt::Display) -> u8 {
    eprintln!("error: {}", escape_lines(&message.to_string()));
    super::EXIT_ERROR
}

/// Whether appreg colors what it writes to stdout, set once by `cli::main`.
static STDOUT_COLOR: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

pub fn set_stdout_color(color: bool) {
    let _ = STDOUT_COLOR.set(color);
}

/// Writes `text` to stdout; a closed pipe is not an error. Values in `text` are escaped where it
/// was composed; this is the second line of defence: no line reads as a CI runner command, and
/// without colors of appreg's own no control character but the line break gets through.
pub fn print_stdout(text: &str) {
    use std::io::Write;
    let safe = guard_lines(text, STDOUT_COLOR.get().copied().unwrap_or(false));
    let _ = std::io::stdout().lock().write_all(safe.as_bytes());
}

/// Writes `text` to stderr, guarded like [`print_stdout`] (colors as stderr allows).
pub fn print_stderr(text: &str, color: bool) {
    use std::io::Write;
    let safe = guard_lines(text, color);
    let _ = std::io::stderr().lock().write_all(safe.as_bytes());
}
