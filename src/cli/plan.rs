//! `appreg plan` and `appreg drift`: observe the tenant, show what differs. Never writes.

use std::path::PathBuf;

use super::progress::{self, Progress};
use super::run::{self, block_on, fail};
use super::{EXIT_CHANGES, EXIT_ERROR, EXIT_OK, GlobalArgs, target};
use crate::engine::{self, PlanOptions, plan::Plan};
use crate::output::plan::{self as view, Report, Style};

#[derive(Debug, clap::Args)]
pub struct ViewArgs {
    /// Print the plan as JSON (format: `appreg schema plan`).
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
    /// Limit the run to this app (`app.KEY`; repeat for more). A targeted run never prunes.
    #[arg(long = "target", value_name = "ADDRESS", conflicts_with = "prune")]
    pub targets: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct DriftArgs {
    /// Manifest files or directories. Default: the current directory.
    #[arg(value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub view: ViewArgs,
    /// Limit the report to this app (`app.KEY`; repeat for more); apps left out are not reported
    /// as gone from the manifest.
    #[arg(long = "target", value_name = "ADDRESS")]
    pub targets: Vec<String>,
}

pub fn run(global: &GlobalArgs, args: &PlanArgs) -> u8 {
    let Some(plan) = make_plan(
        global,
        &args.paths,
        &args.targets,
        args.prune,
        args.strict,
        Report::Plan,
    ) else {
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

/// Drift is the plan apply would carry out (without `--prune`), plus what apply leaves alone but
/// differs all the same: credentials and apps of the set that left the manifest (which only
/// `--prune` deletes), secrets due, certificates near expiry. Its exit code says whether anything
/// differs. It is worded as a report, not as actions about to happen.
pub fn drift(global: &GlobalArgs, args: &DriftArgs) -> u8 {
    let Some(plan) = make_plan(
        global,
        &args.paths,
        &args.targets,
        false,
        false,
        Report::Drift,
    ) else {
        return EXIT_ERROR;
    };
    show_report(global, &args.view, &plan, Report::Drift);
    if plan.has_drift() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    }
}

/// Loads the manifest, connects, observes and plans; errors are printed. A plan that prunes is
/// refused while part of the set is out of view; `drift` (which only reports) is warned instead.
/// With targets, only the targeted apps are read and planned, and nothing is pruned.
pub fn make_plan(
    global: &GlobalArgs,
    paths: &[PathBuf],
    targets: &[String],
    prune: bool,
    strict: bool,
    report: Report,
) -> Option<Plan> {
    let loaded = run::load_strict(global, paths, strict)?;
    let targets = match engine::targets::resolve(&loaded.state, targets) {
        Ok(targets) => targets,
        Err(e) => {
            fail(e);
            return None;
        }
    };
    let targeted = !targets.is_empty();
    let state = engine::targets::narrow(&loaded.state, &targets);
    // Drift names every app of the set the files leave out (as gone from the manifest), so it
    // asks the same question as a prune would, and only warns. A targeted run asks neither.
    let drift = report == Report::Drift;
    match loaded.prune_in_view(!targeted && (prune || drift)) {
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
        let progress = Progress::start(
            global.progress,
            &connection.client,
            progress::reading(state.apps.len()),
        );
        let result = engine::plan(
            &connection.client,
            &connection.sinks,
            &state,
            &connection.tenant_id,
            PlanOptions {
                prune: prune && !targeted,
                caller: connection.caller,
                as_of: global.as_of_instant(),
            },
        )
        .await;
        progress.finish();
        connection.client.log_summary();
        connection.close().await;
        match result {
            Ok((observed, planned)) => {
                let mut plan = planned.plan;
                plan.manifest_paths = manifest_paths(paths);
                plan.notices.extend(engine::retirements::notices(
                    &state,
                    &observed,
                    global.today(),
                ));
                // Under --target the set's other apps are out of view, not gone.
                if report == Report::Drift && !plan.prune && !targeted {
                    plan.notices.extend(stray_notices(&observed));
                }
                plan.targets = targets;
                Some(plan)
            }
            Err(e) => {
                fail(e);
                None
            }
        }
    })
}

/// Apps of the set that left the manifest, which apply keeps unless told `--prune` (the identity
/// appreg runs as is never pruned, so it is no difference either).
fn stray_notices(observed: &engine::observed::Observed) -> Vec<engine::plan::Notice> {
    observed
        .strays
        .iter()
        .filter(|stray| {
            let app_id = stray["appId"]
                .as_str()
                .and_then(|id| uuid::Uuid::parse_str(id).ok());
            observed.caller.is_none() || app_id != observed.caller
        })
        .map(|stray| {
            let name = ["uniqueName", "displayName"]
                .iter()
                .find_map(|field| stray[*field].as_str())
                .unwrap_or("?");
            engine::plan::Notice {
                address: engine::address::Address::app(name),
                message: "left the manifest; apply keeps it, `apply --prune` deletes it".into(),
            }
        })
        .collect()
}

pub fn manifest_paths(paths: &[PathBuf]) -> Vec<String> {
    if paths.is_empty() {
        vec![".".to_string()]
    } else {
        paths.iter().map(|p| p.display().to_string()).collect()
    }
}

pub fn show(global: &GlobalArgs, args: &ViewArgs, plan: &Plan) {
    show_report(global, args, plan, Report::Plan);
}

fn show_report(global: &GlobalArgs, args: &ViewArgs, plan: &Plan, report: Report) {
    run::print_stdout(&render(args, plan, global.color.for_stdout(), report));
}

/// The plan in the view `args` ask for, worded for `report`.
pub fn render(args: &ViewArgs, plan: &Plan, color: bool, report: Report) -> String {
    if args.json {
        crate::output::machine::to_json(plan)
    } else if args.markdown {
        view::markdown_report(plan, report)
    } else {
        view::human_report(plan, Style { color }, report)
    }
}
