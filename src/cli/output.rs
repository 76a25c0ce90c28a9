//! `appreg output`: each app's ids and consent URLs, read from the tenant. Never writes.

use std::path::PathBuf;

use super::run::{self, block_on, fail};
use super::{EXIT_ERROR, EXIT_OK, GlobalArgs, target};
use crate::engine;

#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Manifest files or directories. Default: the current directory.
    #[arg(value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
    /// Print JSON (format: `appreg schema output`; the file `apply --outputs` writes).
    #[arg(long)]
    pub json: bool,
}

pub fn run(global: &GlobalArgs, args: &OutputArgs) -> u8 {
    let Some(loaded) = run::load(global, &args.paths) else {
        return EXIT_ERROR;
    };
    block_on(async {
        let connection = match target::connect(global, loaded.state.tenant.as_deref()).await {
            Ok(c) => c,
            Err(e) => return fail(e),
        };
        let progress = super::progress::Progress::start(
            global.progress,
            &connection.client,
            super::progress::reading(loaded.state.apps.len()),
        );
        let observed = engine::observe_all(
            &connection.client,
            &connection.sinks,
            &loaded.state,
            &connection.tenant_id,
        )
        .await;
        progress.finish();
        let code = match observed {
            Ok(observed) => {
                let ids = observed.apps.ids();
                let rows = engine::inventory::inventory(&loaded.state, &observed, global.now());
                let outputs = super::apply::outputs(
                    &loaded.state,
                    &ids,
                    &connection,
                    &rows,
                    &[],
                    Some(&observed),
                );
                if args.json {
                    run::print_stdout(&crate::output::machine::to_json(
                        &crate::output::machine::OutputsReport::new(&outputs),
                    ));
                } else {
                    super::apply::print_outputs(&outputs);
                }
                EXIT_OK
            }
            Err(e) => fail(e),
        };
        connection.close().await;
        code
    })
}
