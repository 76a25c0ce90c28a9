//! `appreg plan` and `appreg drift`: observe the tenant, show what differs. Never writes.

use std::path::PathBuf;

use super::run::{self, block_on, fail};
use super::{EXIT_CHANGES, EXIT_ERROR, EXIT_OK, GlobalArgs, target};
use crate::engine::{self, PlanOptions, plan::Plan};
use crate::output::plan::{self as view, Style};

#[derive(Debug, clap::Args)]
pub struct ViewArgs {
    /// Print the plan as JSON (format documented by `appreg schema plan`).
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Print the plan as Markdown, for pull-request comments and CI job summaries.
    #[arg(long)]
    pub markdown: bool,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Manifest files or directories. Default: the current directory.
    #[arg(value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub view: ViewArgs,
    /// Save the plan to FILE for `appreg apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 2 when the plan has changes (0: none, 1: error).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Also delete apps of this set that left the manifest.
    #[arg(long)]
    pub prune: bool,
    /// Treat manifest warnings as errors: nothing is read from or sent to the tenant.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, clap::Args)]
pub struct DriftArgs {
    /// Manifest files or directories. Default: the current directory.
    #[arg(value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub view: ViewArgs,
}

pub fn run(global: &GlobalArgs, args: &PlanArgs) -> u8 {
    let Some(plan) = make_plan(global, &args.paths, args.prune, args.strict, false) else {
        return EXIT_ERROR;
    };
    if let Some(out) = &args.out {
        let text = serde_json::to_string_pretty(&plan).expect("a plan serializes");
        if let Err(e) = std::fs::write(out, text + "\n") {
            return fail(format!("cannot write the plan to {}: {e}", out.display()));
        }
        eprintln!(
            "appreg: plan saved to {}; apply it with `appreg apply {}`",
            out.display(),
            out.display()
        );
    }
    show(global, &args.view, &plan);
    if args.detailed_exitcode && plan.has_changes() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    }
}

/// Drift is a plan that also counts apps of the set that left the manifest, and whose exit code
/// says whether anything differs.
pub fn drift(global: &GlobalArgs, args: &DriftArgs) -> u8 {
    let Some(plan) = make_plan(global, &args.paths, true, false, true) else {
        return EXIT_ERROR;
    };
    show(global, &args.view, &plan);
    if plan.has_drift() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    }
}

/// Loads the manifest, connects, observes and plans; errors are printed. A plan that prunes is
/// refused while part of the set is out of view; `drift` (which only reports) is warned instead.
pub fn make_plan(
    global: &GlobalArgs,
    paths: &[PathBuf],
    prune: bool,
    strict: bool,
    drift: bool,
) -> Option<Plan> {
    let loaded = run::load_strict(global, paths, strict)?;
    match loaded.prune_in_view(prune) {
        Err(e) if drift => eprintln!(
            "warning: drift counts the apps that these files declare for set `{}` as gone from the manifest; pass the directory that holds the whole set:{}",
            e.set,
            e.listing()
        ),
        Err(e) => {
            fail(e);
            return None;
        }
        Ok(()) => {}
    }
    block_on(async {
        let connection = match target::connect(global, loaded.state.tenant.as_deref()).await {
            Ok(c) => c,
            Err(e) => {
                fail(e);
                return None;
            }
        };
        if !run::check_verified_domains(global, &connection.client, &loaded).await {
            connection.close().await;
            return None;
        }
        if !super::audit::check_policy_on_tenant(global, &connection.client, &loaded).await {
            connection.close().await;
            return None;
        }
        let result = engine::plan(
            &connection.client,
            &connection.sinks,
            &loaded.state,
            &connection.tenant_id,
            PlanOptions {
                prune,
                caller: connection.caller,
            },
        )
        .await;
        connection.client.log_summary();
        connection.close().await;
        match result {
            Ok((observed, planned)) => {
                let mut plan = planned.plan;
                plan.manifest_paths = manifest_paths(paths);
                plan.notices.extend(engine::retirements::notices(
                    &loaded.state,
                    &observed,
                    global.today(),
                ));
                Some(plan)
            }
            Err(e) => {
                fail(e);
                None
            }
        }
    })
}

pub fn manifest_paths(paths: &[PathBuf]) -> Vec<String> {
    if paths.is_empty() {
        vec![".".to_string()]
    } else {
        paths.iter().map(|p| p.display().to_string()).collect()
    }
}

pub fn show(global: &GlobalArgs, args: &ViewArgs, plan: &Plan) {
    let text = if args.json {
        serde_json::to_string_pretty(plan).expect("a plan serializes") + "\n"
    } else if args.markdown {
        view::markdown(plan)
    } else {
        view::human(
            plan,
            Style {
                color: global.color.for_stdout(),
            },
        )
    };
    run::print_stdout(&text);
}
