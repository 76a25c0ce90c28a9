//! What the commands that reach a tenant share: loading the manifest (reporting problems like
//! `validate`), a runtime, and printing errors.

use std::path::PathBuf;

use super::GlobalArgs;
use crate::manifest::{self, Loaded};

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

/// Runs a command's async body on a runtime of its own.
pub fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
        .block_on(future)
}

/// Prints an error for the user and returns the error exit code.
pub fn fail(message: impl std::fmt::Display) -> u8 {
    eprintln!("error: {message}");
    super::EXIT_ERROR
}

/// Writes `text` to stdout; a closed pipe is not an error.
pub fn print_stdout(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
