//! `appreg apply`: plan, confirm, apply, summarise, and print each app's outputs. Given a saved plan
//! file, it re-observes and applies exactly that plan, refusing when the world moved.
//!
//! A saved plan is a file anyone with write access to the job's workspace can edit, and a plan
//! made by a read-only `plan --prune --out` lists deletions nobody asked to apply. So a saved plan
//! that deletes anything is applied only when `--prune` is given to `apply` as well (the
//! destructive choice is restated by whoever runs apply), and without a terminal only with
//! `--auto-approve`, like any other apply.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use super::plan::{ViewArgs, manifest_paths, show};
use super::progress::{self, Progress};
use super::run::{self, block_on, fail};
use super::{EXIT_ERROR, EXIT_OK, GlobalArgs, target};
use crate::engine::{
    self, AppOutputs, PlanOptions,
    plan::{Action, Plan},
};
use crate::output::untrusted::{Untrusted, escape_lines};

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// Manifest files or directories, or one plan file saved by `appreg plan --out`.
    #[arg(value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
    /// Apply without asking; required when stdin is not a terminal (saved plans included).
    #[arg(long)]
    pub auto_approve: bool,
    /// Also delete apps of this set that left the manifest. With a saved plan: required when the
    /// plan deletes anything.
    #[arg(long)]
    pub prune: bool,
    /// Write each app's outputs (ids, consent URLs) to FILE as JSON (format: `appreg schema output`).
    #[arg(long, value_name = "FILE")]
    pub outputs: Option<PathBuf>,
    /// Print a JSON report on stdout (format: `appreg schema apply`): what changed, what failed,
    /// and each app's outputs. The plan shown for confirmation goes to stderr instead.
    #[arg(long)]
    pub json: bool,
    /// Treat manifest warnings as errors: nothing is read from or sent to the tenant.
    #[arg(long)]
    pub strict: bool,
    /// Limit the run to this app (`app.KEY`; repeat for more). A targeted run never prunes; a
    /// saved plan is applied with the targets it was made with.
    #[arg(long = "target", value_name = "ADDRESS", conflicts_with = "prune")]
    pub targets: Vec<String>,
}

pub fn run(global: &GlobalArgs, args: &ApplyArgs) -> u8 {
    let saved = match saved_plan(&args.paths) {
        Ok(saved) => saved,
        Err(e) => return fail(e),
    };
    if let Some(plan) = &saved
        && let Some(refusal) = saved_plan_refusal(plan, args, std::io::stdin().is_terminal())
    {
        return fail(refusal);
    }
    let paths: Vec<PathBuf> = match &saved {
        Some(plan) => plan.manifest_paths.iter().map(PathBuf::from).collect(),
        None => args.paths.clone(),
    };
    let written_targets: Vec<String> = match &saved {
        Some(_) if !args.targets.is_empty() => {
            return fail(
                "a saved plan is applied with the targets it was made with; drop --target, or make a new plan with it",
            );
        }
        Some(plan) => plan.targets.iter().map(ToString::to_string).collect(),
        None => args.targets.clone(),
    };
    let Some(loaded) = run::load_strict(global, &paths, args.strict) else {
        return EXIT_ERROR;
    };
    // Resolved before anything reaches the tenant: an unknown target writes nothing.
    let targets = match engine::targets::resolve(&loaded.state, &written_targets) {
        Ok(targets) => targets,
        Err(e) => return fail(e),
    };
    let state = engine::targets::narrow(&loaded.state, &targets);
    let prune = targets.is_empty() && saved.as_ref().map_or(args.prune, |p| p.prune);
    if targets.is_empty()
        && let Err(e) = loaded.prune_in_view(prune)
    {
        return fail(e);
    }
    // One apply per manifest directory at a time, held until this function returns; with it
    // held, temporary secret files an interrupted apply left are removed (credentials::lock).
    let lock = crate::credentials::lock::lock_directories(
        &loaded.files,
        crate::credentials::lock::LOCK_WAIT,
        &mut |dir| {
            eprintln!(
                "appreg: another apply of {} is running; waiting for it to finish",
                dir.display()
            )
        },
    );
    let _lock = match lock {
        Ok(lock) => lock,
        Err(e) => return fail(e.to_string()),
    };
    for problem in crate::credentials::lock::sweep_temporaries(&loaded.state) {
        eprintln!("warning: a stale temporary secret file could not be removed: {problem}");
    }
    block_on(async {
        let connection = match target::connect(global, loaded.state.tenant.as_deref()).await {
            Ok(c) => c,
            Err(e) => return fail(e),
        };
        if !run::check_verified_domains(global, &connection.client, &loaded).await {
            connection.close().await;
            return EXIT_ERROR;
        }
        if !super::audit::check_policy_on_tenant(global, &connection.client, &loaded).await {
            connection.close().await;
            return EXIT_ERROR;
        }
        let code = apply(
            global,
            args,
            &connection,
            &state,
            saved.as_ref(),
            Scope {
                prune,
                paths: &paths,
                targets: &targets,
            },
        )
        .await;
        connection.client.log_summary();
        connection.close().await;
        code
    })
}

/// Longest list of deletions a refusal names; the plan itself lists them all.
const NAMED_DELETIONS: usize = 20;

/// Why a saved plan is not applied as `args` ask, before anything is sent: it deletes (or was
/// made with `--prune`) and `--prune` is not restated, or nobody can confirm it.
fn saved_plan_refusal(plan: &Plan, args: &ApplyArgs, terminal: bool) -> Option<String> {
    let deletions: Vec<&str> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.address.as_str())
        .collect();
    if !args.prune && (plan.prune || !deletions.is_empty()) {
        let mut named: Vec<String> = deletions
            .iter()
            .take(NAMED_DELETIONS)
            .map(|a| format!("  - {}", Untrusted(a)))
            .collect();
        if deletions.len() > NAMED_DELETIONS {
            named.push(format!(
                "  ... and {} more",
                deletions.len() - NAMED_DELETIONS
            ));
        }
        let what = if deletions.is_empty() {
            "was made with --prune (it may delete apps that leave the set)".to_string()
        } else {
            format!(
                "deletes {} object{}:\n{}",
                deletions.len(),
                if deletions.len() == 1 { "" } else { "s" },
                named.join("\n")
            )
        };
        return Some(format!(
            "this saved plan {what}\n\
             a saved plan that deletes anything is applied only when apply is told so too\n\
             help: review the plan, then run `appreg apply <PLANFILE> --prune`"
        ));
    }
    if !args.auto_approve && !terminal {
        return Some(
            "applying a saved plan needs confirmation, and stdin is not a terminal; pass --auto-approve to apply it without asking"
                .to_string(),
        );
    }
    None
}

/// A single `.json` argument is a saved plan.
fn saved_plan(paths: &[PathBuf]) -> Result<Option<Plan>, String> {
    let [path] = paths else { return Ok(None) };
    if path.extension().is_none_or(|e| e != "json") || !path.is_file() {
        return Ok(None);
    }
    let cannot =
        |e: &dyn std::fmt::Display| format!("cannot read the plan {}: {e}", path.display());
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| {
            file.take(engine::plan::MAX_PLAN_BYTES + 1)
                .read_to_end(&mut bytes)
        })
        .map_err(|e| cannot(&e))?;
    if bytes.len() as u64 > engine::plan::MAX_PLAN_BYTES {
        return Err(cannot(&format!(
            "larger than {} bytes; a saved plan is a few megabytes at most",
            engine::plan::MAX_PLAN_BYTES
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("{} is not an appreg plan: not UTF-8 text", path.display()))?;
    Plan::from_json(&text)
        .map(Some)
        .map_err(|e| format!("{} {e}", path.display()))
}

/// What part of the manifest an apply covers: whether it prunes, the paths it was loaded from,
/// and the apps it is limited to (none: all).
struct Scope<'a> {
    prune: bool,
    paths: &'a [PathBuf],
    targets: &'a [engine::address::Address],
}

async fn apply(
    global: &GlobalArgs,
    args: &ApplyArgs,
    connection: &target::Connection,
    state: &crate::model::DesiredState,
    saved: Option<&Plan>,
    scope: Scope<'_>,
) -> u8 {
    let Scope {
        prune,
        paths,
        targets,
    } = scope;
    let progress = Progress::start(
        global.progress,
        &connection.client,
        progress::reading(state.apps.len()),
    );
    let planning = engine::plan(
        &connection.client,
        &connection.sinks,
        state,
        &connection.tenant_id,
        PlanOptions {
            prune,
            caller: connection.caller,
            as_of: global.as_of_instant(),
        },
    )
    .await;
    progress.finish();
    let (observed, mut planned) = match planning {
        Ok(result) => result,
        Err(e) => return fail(e),
    };
    planned.plan.manifest_paths = manifest_paths(paths);
    planned.plan.targets = targets.to_vec();
    match saved {
        Some(saved) => {
            if let Some(reason) = engine::stale_reason(saved, &planned.plan) {
                return fail(format!("plan is stale: {reason}; run `appreg plan` again"));
            }
            // At a terminal without --auto-approve, the person sees what they confirm.
            if !args.auto_approve && planned.plan.has_changes() {
                show_plan(global, args, &planned.plan);
                if !confirmed(false) {
                    return EXIT_ERROR;
                }
            }
        }
        None => {
            show_plan(global, args, &planned.plan);
            if planned.plan.has_changes() && !confirmed(args.auto_approve) {
                return EXIT_ERROR;
            }
        }
    }
    let report = if planned.plan.has_changes() {
        let writes = planned
            .plan
            .changes
            .iter()
            .filter(|c| c.action.is_write())
            .count();
        let progress = Progress::start(
            global.progress,
            &connection.client,
            format!(
                "Applying {writes} change{}",
                if writes == 1 { "" } else { "s" }
            ),
        );
        let applied = engine::apply::apply(
            &connection.client,
            &connection.sinks,
            state,
            &observed,
            &planned,
        )
        .await;
        progress.finish();
        match applied {
            Ok(report) => report,
            Err(e) => return fail(e),
        }
    } else {
        engine::ApplyReport {
            ids: observed.apps.ids(),
            ..Default::default()
        }
    };
    let mut err = std::io::stderr().lock();
    if planned.plan.has_changes() {
        let count = |action: Action| report.done.iter().filter(|(_, a)| *a == action).count();
        // A replacement is neither an update nor a create: it is counted as what it is.
        let replaced = match count(Action::Replace) {
            0 => String::new(),
            n => format!(", {n} replaced"),
        };
        let _ = writeln!(
            err,
            "Apply {}: {} created, {} updated, {} deleted{replaced}.",
            if report.failed.is_empty() {
                "complete"
            } else {
                "incomplete"
            },
            count(Action::Create),
            count(Action::Update) + count(Action::Rotate),
            count(Action::Delete)
        );
        for failure in &report.failed {
            // Graph's message is outside text; appreg's own hint lines stay lines.
            let why = escape_lines(&failure.reason.to_string()).replace('\n', "\n    ");
            let _ = writeln!(err, "  failed: {}: {why}", Untrusted(&failure.address));
        }
    }
    drop(err);
    let rows = engine::inventory::inventory(state, &observed, global.now());
    let outputs = outputs(
        state,
        &report.ids,
        connection,
        &rows,
        &report.delivered,
        None,
    );
    if args.json {
        let document = crate::output::machine::ApplyReport::new(
            &planned.plan.set_name,
            &planned.plan.tenant_id,
            &planned.plan.targets,
            &report.done,
            &report.failed,
            &outputs,
        );
        run::print_stdout(&crate::output::machine::to_json(&document));
    } else {
        print_outputs(&outputs);
    }
    if let Some(path) = &args.outputs
        && let Err(e) = write_outputs(path, &outputs).await
    {
        return fail(format!("cannot write outputs to {}: {e}", path.display()));
    }
    if report.failed.is_empty() {
        EXIT_OK
    } else {
        eprintln!("error: some changes failed; fix the cause and run apply again (it converges)");
        EXIT_ERROR
    }
}

/// The plan before confirmation: on stdout, or on stderr when stdout carries the JSON report.
fn show_plan(global: &GlobalArgs, args: &ApplyArgs, plan: &Plan) {
    let view = ViewArgs {
        json: false,
        markdown: false,
    };
    if args.json {
        let color = global.color.for_stderr();
        let text = super::plan::render(&view, plan, color, crate::output::plan::Report::Plan);
        run::print_stderr(&text, color);
    } else {
        show(global, &view, plan);
    }
}

/// Asks on a terminal; refuses without one unless `--auto-approve`.
fn confirmed(auto_approve: bool) -> bool {
    if auto_approve {
        return true;
    }
    if !std::io::stdin().is_terminal() {
        eprintln!(
            "error: apply needs confirmation, and stdin is not a terminal; pass --auto-approve to apply without asking"
        );
        return false;
    }
    eprint!("Apply these changes? Only 'yes' is accepted: ");
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if answer.trim() == "yes" {
        true
    } else {
        eprintln!("Apply cancelled; nothing was changed.");
        false
    }
}

/// Each app's outputs. Assignments are listed from `observed` when given (`appreg output`, which
/// reads the tenant as it is); apply's own observation predates its changes, so it lists none.
pub fn outputs(
    state: &crate::model::DesiredState,
    ids: &BTreeMap<String, engine::AppIds>,
    connection: &target::Connection,
    credentials: &[engine::inventory::CredentialRow],
    delivered: &[engine::step::Delivered],
    observed: Option<&engine::observed::Observed>,
) -> BTreeMap<String, AppOutputs> {
    state
        .apps
        .values()
        .filter_map(|app| {
            let ids = ids.get(&app.key)?;
            let out = engine::apply::outputs(
                app,
                ids,
                &connection.tenant_id,
                connection.endpoints.authority.as_str(),
                &connection.graph_resource(),
            )?;
            let credentials =
                engine::apply::CredentialExpiry::current(&app.key, credentials, delivered);
            let assignments = observed
                .and_then(|o| o.apps.get(&app.key))
                .map(|live| engine::apply::AssignmentOutput::from_tenant(&live))
                .unwrap_or_default();
            Some((
                app.key.clone(),
                AppOutputs {
                    credentials,
                    assignments,
                    sandbox_only: connection.is_embedded_sandbox(),
                    ..out
                },
            ))
        })
        .collect()
}

pub fn print_outputs(outputs: &BTreeMap<String, AppOutputs>) {
    if outputs.is_empty() {
        return;
    }
    let mut text = String::from("\nOutputs:\n");
    for (key, out) in outputs {
        // Ids and URLs are built from the tenant's answers: escaped like any outside text.
        text.push_str(&format!(
            "  {}:\n    appId: {}\n    objectId: {}\n    tenantId: {}\n",
            Untrusted(key),
            Untrusted(&out.app_id),
            Untrusted(&out.object_id),
            Untrusted(&out.tenant_id)
        ));
        if let Some(sp) = &out.service_principal_id {
            text.push_str(&format!("    servicePrincipalId: {}\n", Untrusted(sp)));
        }
        if let Some(url) = &out.admin_consent_url {
            text.push_str(&format!("    adminConsentUrl: {}\n", Untrusted(url)));
        }
        if let Some(url) = &out.user_consent_url {
            text.push_str(&format!("    userConsentUrl: {}\n", Untrusted(url)));
        }
        if out.sandbox_only && (out.admin_consent_url.is_some() || out.user_consent_url.is_some()) {
            text.push_str(
                "    (sandbox only: these URLs point at the sandbox this command ran, gone now)\n",
            );
        }
        for assignment in &out.assignments {
            text.push_str(&format!(
                "    assigned: {} {} ({})\n",
                Untrusted(&assignment.principal_type),
                Untrusted(&assignment.principal_display_name),
                assignment.role.as_deref().map_or_else(
                    || "default access".to_string(),
                    |r| Untrusted(r).to_string()
                )
            ));
        }
        for credential in &out.credentials {
            let expires = credential
                .expires
                .map_or_else(|| "-".to_string(), |e| e.format("%Y-%m-%d").to_string());
            text.push_str(&format!(
                "    {} {}: expires {expires}\n",
                Untrusted(&credential.kind),
                Untrusted(&credential.name)
            ));
        }
    }
    run::print_stdout(&text);
}

pub async fn write_outputs(
    path: &Path,
    outputs: &BTreeMap<String, AppOutputs>,
) -> std::io::Result<()> {
    let text =
        crate::output::machine::to_json(&crate::output::machine::OutputsReport::new(outputs));
    tokio::fs::write(path, text).await
}
