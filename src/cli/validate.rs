//! `appreg validate`: load and check manifests offline.

use std::path::PathBuf;

use super::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Manifest files or directories (every *.yaml / *.yml inside, sorted). Default: the current directory.
    #[arg(value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
    /// Treat warnings as errors.
    #[arg(long)]
    pub strict: bool,
}

pub fn run(_global: &GlobalArgs, _args: &ValidateArgs) -> u8 {
    super::EXIT_ERROR
}
