//! `appreg import`: write manifests for apps registered by hand, so that adopting them plans
//! clean. Reads the tenant, never writes to it.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::run::{self, block_on, fail};
use super::{EXIT_ERROR, EXIT_OK, GlobalArgs, target};
use crate::engine::import::{self, Imported, Selection};
use crate::manifest::emit::{self, EmittedApp};
use crate::output::untrusted::escape;

/// Where the modeline points: the schema file written beside the manifests.
const SCHEMA_FILE: &str = "appreg.schema.json";

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The application (client) id of an app to import; repeat for more.
    #[arg(long = "app", value_name = "APPID")]
    pub apps: Vec<uuid::Uuid>,
    /// Apps matching an OData filter on applications, e.g. `startswith(displayName,'CRM')`.
    #[arg(long, value_name = "ODATA")]
    pub filter: Option<String>,
    /// Apps owned by this user (userPrincipalName) or service principal (appId).
    #[arg(long, value_name = "UPN|APPID")]
    pub owned_by: Option<String>,
    /// Every app registration of the tenant (but appreg's own identity).
    #[arg(long)]
    pub all: bool,
    /// Write one manifest per app into DIR (created as needed), named after the app; without it
    /// one manifest with every app goes to stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Overwrite files that exist in the output directory.
    #[arg(long, requires = "out")]
    pub force: bool,
    /// Ownership set the manifests name (lowercase letters, digits, `-`, `_`, `.`).
    #[arg(long = "set", value_name = "NAME", default_value = "imported")]
    pub set: String,
    /// Print a JSON summary on stdout (needs --out, since the manifest would go there).
    #[arg(long, requires = "out")]
    pub json: bool,
}

/// The `--json` summary.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    format_version: u32,
    set_name: String,
    apps: Vec<AppSummary>,
    skipped: Vec<String>,
    missing: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AppSummary {
    key: String,
    app_id: String,
    display_name: String,
    file: Option<String>,
    certificates: Vec<String>,
    /// What the manifest cannot reproduce exactly.
    not_reproduced: Vec<String>,
    remarks: Vec<String>,
}

fn valid_set_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

pub fn run(global: &GlobalArgs, args: &ImportArgs) -> u8 {
    if !valid_set_name(&args.set) {
        let lower = args.set.to_ascii_lowercase();
        let hint = if valid_set_name(&lower) {
            format!("; write `--set {lower}`")
        } else {
            String::new()
        };
        return fail(format!(
            "`--set {}` is not a set name: lowercase letters, digits, `-`, `_` and `.` (Graph compares tags without regard to case){hint}",
            escape(&args.set)
        ));
    }
    let mut selections: Vec<Selection> = args.apps.iter().map(|a| Selection::AppId(*a)).collect();
    if let Some(filter) = &args.filter {
        selections.push(Selection::Filter(filter.clone()));
    }
    if let Some(owner) = &args.owned_by {
        selections.push(Selection::OwnedBy(owner.clone()));
    }
    if args.all {
        selections.push(Selection::All);
    }
    if selections.is_empty() {
        return fail(
            "name the apps to import: --app APPID, --filter ODATA, --owned-by UPN|APPID or --all",
        );
    }
    let imported = block_on(async {
        let connection = target::connect(global, None).await?;
        let caller = connection.caller;
        let imported = import::import(&connection.client, &selections, &args.set, caller).await;
        connection.client.log_summary();
        connection.close().await;
        imported.map_err(|e| e.to_string())
    });
    let imported = match imported {
        Ok(imported) => imported,
        Err(e) => return fail(format!("the import could not read the tenant: {e}")),
    };
    match &args.out {
        Some(dir) => write_files(args, dir, &imported),
        None => write_stdout(args, &imported),
    }
}

/// One manifest per app in `dir`, with the certificates' public parts beside them. Nothing is
/// written when a file exists and `--force` is not given.
fn write_files(args: &ImportArgs, dir: &Path, imported: &Imported) -> u8 {
    let mut planned: Vec<(PathBuf, String)> = Vec::new();
    let mut summaries = Vec::new();
    for one in &imported.apps {
        let text = match emit::manifest(
            &args.set,
            SCHEMA_FILE,
            &[EmittedApp {
                app: &one.app,
                comments: comments(one),
            }],
        ) {
            Ok(text) => text,
            Err(e) => return fail(format!("app `{}`: {e}; nothing was written", one.app.key)),
        };
        let file = format!("{}.yaml", one.app.key);
        planned.push((dir.join(&file), text));
        for (path, pem) in &one.inverse.files {
            planned.push((dir.join(path), pem.clone()));
        }
        summaries.push(summary(one, Some(file)));
    }
    if !args.force {
        let existing: Vec<String> = planned
            .iter()
            .filter(|(p, _)| p.symlink_metadata().is_ok())
            .map(|(p, _)| p.display().to_string())
            .collect();
        if !existing.is_empty() {
            return fail(format!(
                "these files exist, and --force was not given; nothing was written:\n  {}",
                existing.join("\n  ")
            ));
        }
    }
    if let Err(e) = std::fs::create_dir_all(dir) {
        return fail(format!("cannot create {}: {e}", dir.display()));
    }
    let schema = dir.join(SCHEMA_FILE);
    if schema.symlink_metadata().is_err() {
        planned.push((schema, crate::manifest::schema_json()));
    }
    for (path, text) in &planned {
        if let Err(e) = write_public(path, text) {
            return fail(format!("cannot write {}: {e}", path.display()));
        }
    }
    let mut code = EXIT_OK;
    for summary in &mut summaries {
        if let Some(file) = &summary.file {
            code = code.max(check_loads(&dir.join(file), summary));
        }
    }
    report(args, imported, summaries);
    code
}

/// One manifest with every app on stdout; certificate files go to the current directory, where
/// the manifest's relative paths point when it is saved there.
fn write_stdout(args: &ImportArgs, imported: &Imported) -> u8 {
    let apps: Vec<EmittedApp> = imported
        .apps
        .iter()
        .map(|one| EmittedApp {
            app: &one.app,
            comments: comments(one),
        })
        .collect();
    let text = match emit::manifest(&args.set, SCHEMA_FILE, &apps) {
        Ok(text) => text,
        Err(e) => return fail(format!("{e}; nothing was written")),
    };
    for one in &imported.apps {
        for (path, pem) in &one.inverse.files {
            let path = Path::new(path);
            if path.symlink_metadata().is_ok() {
                return fail(format!(
                    "{} exists; import with --out DIR (and --force) to replace it",
                    path.display()
                ));
            }
            if let Err(e) = write_public(path, pem) {
                return fail(format!("cannot write {}: {e}", path.display()));
            }
            eprintln!(
                "appreg: wrote the public certificate {} (save the manifest beside it)",
                path.display()
            );
        }
    }
    run::print_stdout(&text);
    let summaries = imported.apps.iter().map(|one| summary(one, None)).collect();
    report(args, imported, summaries);
    EXIT_OK
}

/// Comments above an app: what a reader must know before the first apply.
fn comments(one: &import::ImportedApp) -> Vec<String> {
    let mut out = vec![format!("imported from app {}", one.app_id)];
    out.extend(
        one.inverse
            .unrepresented
            .iter()
            .map(|n| format!("not reproduced: {n}")),
    );
    out.extend(one.inverse.remarks.iter().cloned());
    out
}

fn summary(one: &import::ImportedApp, file: Option<String>) -> AppSummary {
    AppSummary {
        key: one.app.key.clone(),
        app_id: one.app_id.clone(),
        display_name: one.display_name.clone(),
        file,
        certificates: one.inverse.files.iter().map(|(p, _)| p.clone()).collect(),
        not_reproduced: one.inverse.unrepresented.clone(),
        remarks: one.inverse.remarks.clone(),
    }
}

/// Loads a written manifest as plan would: what does not validate is reported as not
/// reproduced (the file stays, for a person to finish), and the exit code says so.
fn check_loads(path: &Path, summary: &mut AppSummary) -> u8 {
    match crate::manifest::load(&[path.to_path_buf()], &|_: &str| None) {
        Ok(_) => EXIT_OK,
        Err(invalid) => {
            for diagnostic in invalid.diagnostics.iter().filter(|d| d.is_error()) {
                summary.not_reproduced.push(format!(
                    "the manifest does not validate: {}",
                    diagnostic.message
                ));
            }
            EXIT_ERROR
        }
    }
}

/// What was imported and what could not be reproduced: on stderr, or as JSON on stdout.
fn report(args: &ImportArgs, imported: &Imported, apps: Vec<AppSummary>) {
    if args.json {
        let summary = Summary {
            format_version: crate::output::machine::FORMAT_VERSION,
            set_name: args.set.clone(),
            apps,
            skipped: imported.skipped.clone(),
            missing: imported.missing.clone(),
        };
        let text = serde_json::to_string_pretty(&summary).expect("the summary serializes");
        run::print_stdout(&(text + "\n"));
        return;
    }
    let mut err = std::io::stderr().lock();
    for app in &apps {
        let _ = writeln!(
            err,
            "appreg: imported `{}` ({}, {}){}",
            app.key,
            escape(&app.display_name),
            app.app_id,
            app.file
                .as_ref()
                .map(|f| format!(" -> {f}"))
                .unwrap_or_default()
        );
        for note in &app.not_reproduced {
            let _ = writeln!(err, "  not reproduced exactly: {}", escape(note));
        }
    }
    for skipped in &imported.skipped {
        let _ = writeln!(err, "appreg: skipped {}", escape(skipped));
    }
    for missing in &imported.missing {
        let _ = writeln!(err, "appreg: no app has appId {missing}");
    }
    if apps.is_empty() {
        let _ = writeln!(err, "appreg: no app matched; nothing was written");
    } else {
        let _ = writeln!(
            err,
            "appreg: next: `appreg plan` shows only the adoption (uniqueName and ownership tags); `appreg apply` adopts"
        );
    }
}

/// Writes a file holding nothing secret: mode 0644 whatever the umask allows more of. The file
/// itself is never a link (O_NOFOLLOW): a link planted in a shared output directory, dangling or
/// not, must not redirect the write or the mode change to a file elsewhere.
fn write_public(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .mode(0o644);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(())
}
