//! `appreg credentials`: every credential of the manifest's apps with its expiry and days left,
//! and where it stands (current, previous generation, orphan, undeclared). Never writes.
//!
//! Names and ids come from the tenant, where anyone allowed to add a credential chose them: every
//! format prints them with hidden characters escaped (as plans do), never raw.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::run::{self, block_on, fail};
use super::{EXIT_ERROR, EXIT_OK, GlobalArgs, target};
use crate::engine;
use crate::engine::inventory::{CredentialKind, CredentialRow, Standing};
use crate::manifest::diagnostic::escape_hidden;

#[derive(Debug, clap::Args)]
pub struct CredentialsArgs {
    /// Manifest files or directories. Default: the current directory.
    #[arg(value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
    /// Print JSON (format: `appreg schema credentials`): {formatVersion, credentials: [{app, kind,
    /// name, keyId, expires, daysLeft, standing, due}]}.
    #[arg(long)]
    pub json: bool,
}

pub fn run(global: &GlobalArgs, args: &CredentialsArgs) -> u8 {
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
        connection.close().await;
        match observed {
            Ok(observed) => {
                let rows = engine::inventory::inventory(&loaded.state, &observed, global.now());
                let text = if args.json {
                    crate::output::machine::to_json(
                        &crate::output::machine::CredentialsReport::new(&rows),
                    )
                } else {
                    table(&rows)
                };
                run::print_stdout(&text);
                EXIT_OK
            }
            Err(e) => fail(e),
        }
    })
}

/// A plain table, columns padded to their widest cell.
pub fn table(rows: &[CredentialRow]) -> String {
    if rows.is_empty() {
        return "No credentials: the manifest's apps hold none (or do not exist yet).\n".into();
    }
    let header = [
        "APP",
        "KIND",
        "NAME",
        "KEY ID",
        "EXPIRES",
        "DAYS LEFT",
        "STATUS",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            let kind = match r.kind {
                CredentialKind::Secret => "secret",
                CredentialKind::Certificate => "certificate",
                CredentialKind::FederatedCredential => "federated",
            };
            let mut status = match r.standing {
                Standing::Current => "current",
                Standing::Previous => "previous",
                Standing::Orphan => "orphan (removed by the next apply)",
                Standing::Undeclared => "not in the manifest",
            }
            .to_string();
            if r.days_left.is_some_and(|d| d < 0)
                || r.expires.is_some_and(|e| e <= chrono::Utc::now())
            {
                status.push_str(", EXPIRED");
            } else if r.due {
                status.push_str(", rotation due");
            }
            let shown = |text: &str| escape_hidden(text).into_owned();
            [
                shown(&r.app),
                kind.to_string(),
                shown(&r.name),
                r.key_id.as_deref().map_or_else(|| "-".into(), shown),
                r.expires
                    .map_or_else(|| "-".into(), |e| e.format("%Y-%m-%d").to_string()),
                r.days_left.map_or_else(|| "-".into(), |d| d.to_string()),
                status,
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    line(&header);
    for row in &cells {
        line(&row.each_ref().map(String::as_str));
    }
    out
}
