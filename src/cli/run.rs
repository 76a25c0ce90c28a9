//! What the commands that reach a tenant share: loading the manifest (reporting problems like
//! `validate`), a runtime, and printing errors.

use std::path::PathBuf;

use super::GlobalArgs;
use crate::manifest::{self, Loaded};

/// Loads and validates; on failure prints the diagnostics and returns None. Warnings are printed
/// and do not stop the run.
pub fn load(global: &GlobalArgs, paths: &[PathBuf]) -> Option<Loaded> {
    let env = |name: &str| std::env::var(name).ok();
    let color = global.color.for_stderr();
    match manifest::load(paths, &env) {
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
