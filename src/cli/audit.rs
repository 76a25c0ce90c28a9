//! `appreg audit`: judge every app registration and service principal of the tenant by the rule
//! catalogue, managed by appreg or not. Never writes.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::ValueEnum;

use super::run::{self, block_on, fail};
use super::{EXIT_ERROR, EXIT_OK, GlobalArgs, target};
use crate::audit::{self, report::Report};
use crate::catalogue::rules::Level;
use crate::model::policy::Policy;

/// Exit code when a finding reaches the `--fail-on` level.
pub const EXIT_FINDINGS: u8 = 3;

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// A manifest file or directory whose `policy:` section (and `tenant`) the audit uses;
    /// without it appreg's default policy applies.
    #[arg(long, value_name = "PATH")]
    pub policy: Option<PathBuf>,
    /// Report format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Print the report as JSON: the same as `--format json`, as every reporting command spells it.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Exit 3 when a finding is at this level or above; `never` always exits 0 after a
    /// complete audit.
    #[arg(long, value_enum, default_value_t = FailOn::Error, value_name = "LEVEL")]
    pub fail_on: FailOn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Markdown,
    /// SARIF 2.1.0, for GitHub code scanning.
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Warning,
    Error,
    Never,
}

pub fn run(global: &GlobalArgs, args: &AuditArgs) -> u8 {
    let (policy, tenant) = match &args.policy {
        Some(path) => {
            let Some(loaded) = run::load(global, std::slice::from_ref(path)) else {
                return EXIT_ERROR;
            };
            (
                loaded.policy.unwrap_or_default(),
                loaded.state.tenant.clone(),
            )
        }
        None => (Policy::default(), None),
    };
    // `--as-of` moves the moment credentials are judged against, like retirement dates.
    let now: DateTime<Utc> = match global.as_of {
        Some(day) => day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc(),
        None => Utc::now(),
    };
    global.note_as_of();
    block_on(async {
        let connection = match target::connect(global, tenant.as_deref()).await {
            Ok(c) => c,
            Err(e) => return fail(e),
        };
        let read = audit::read(&connection.client).await;
        let code = match read {
            Ok(tenant) => {
                let judged = audit::check::judge(&tenant, &policy, now);
                let report = Report {
                    format_version: audit::report::FORMAT_VERSION,
                    tenant_id: connection.tenant_id.clone(),
                    as_of: now,
                    applications: tenant.applications.len(),
                    service_principals: tenant.service_principals.len(),
                    allowed: judged.allowed,
                    summary: audit::report::Summary::of(&judged.findings),
                    findings: judged.findings,
                };
                let format = if args.json { Format::Json } else { args.format };
                run::print_stdout(&match format {
                    Format::Human => report.human(),
                    Format::Json => report.json(),
                    Format::Markdown => report.markdown(),
                    Format::Sarif => report.sarif(),
                });
                let threshold = match args.fail_on {
                    FailOn::Warning => Some(Level::Warning),
                    FailOn::Error => Some(Level::Error),
                    FailOn::Never => None,
                };
                if threshold.is_some_and(|t| report.fails(t)) {
                    EXIT_FINDINGS
                } else {
                    EXIT_OK
                }
            }
            Err(e) => fail(format!("the audit could not read the tenant: {e}")),
        };
        connection.client.log_summary();
        connection.close().await;
        code
    })
}

/// Before `plan` and `apply` change anything: when the manifest states a policy, judges the apps
/// of its set as they are in the tenant by the tenant-only rules (credentials on the service
/// principal, unrotated or expired secrets, unconsented permissions: what the manifest cannot
/// show) and the manifest's redirect URIs against the tenant's verified domains, prints the
/// findings, and answers false when one is an error. The manifest-checked
/// rules were judged on the manifest already. A policy that cannot be checked is not skipped
/// quietly: a failed read refuses too.
pub async fn check_policy_on_tenant(
    global: &GlobalArgs,
    client: &crate::graph::GraphClient,
    loaded: &crate::manifest::Loaded,
) -> bool {
    use crate::catalogue::rules::{self, Scope};
    use crate::output::untrusted::escape;
    let Some(policy) = &loaded.policy else {
        return true;
    };
    let tenant = match audit::read(client).await {
        Ok(tenant) => tenant,
        Err(e) => {
            fail(format!(
                "the manifest states a policy and the tenant could not be read to check it ({e}); nothing was written"
            ));
            return false;
        }
    };
    let now = global.as_of.map_or_else(Utc::now, |day| {
        day.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
    });
    let set = loaded.state.set_name.as_str();
    // Redirect URIs are judged as the manifest will write them, not as the tenant has them.
    let findings: Vec<_> = audit::check::judge(&tenant, policy, now)
        .findings
        .into_iter()
        .filter(|f| {
            f.rule.scope == Scope::Tenant
                && f.rule.id != rules::REDIRECT_UNVERIFIED_HOST.id
                && f.object.managed_by.as_deref() == Some(set)
        })
        .collect();
    let mut errors = false;
    for f in &findings {
        errors |= f.level == Level::Error;
        eprintln!(
            "{}[{}] {} ({}): {}\n  help: {}",
            f.level.as_str(),
            f.rule.id,
            escape(&f.object.display_name),
            f.object.app_id,
            escape(&f.message),
            f.rule.fix
        );
    }
    let rule = &rules::REDIRECT_UNVERIFIED_HOST;
    for app in loaded.state.apps.values() {
        let uris = app
            .web
            .redirect_uris
            .iter()
            .chain(&app.spa_redirect_uris)
            .chain(&app.public_client_redirect_uris);
        for uri in uris {
            let Some(host) = audit::check::outside_host(uri, &tenant.verified_domains) else {
                continue;
            };
            let names = [
                app.key.as_str(),
                app.display_name.as_str(),
                app.unique_name.as_str(),
            ];
            let Some(level) = policy.level(rule) else {
                continue;
            };
            if crate::model::policy::is_localhost(uri)
                || policy.allowance(rule.id, &names, Some(&host)).is_some()
            {
                continue;
            }
            errors |= level == Level::Error;
            eprintln!(
                "{}[{}] app `{}`: redirect URI `{}` is on `{}`, outside the tenant's verified domains\n  help: {}",
                level.as_str(),
                rule.id,
                escape(&app.key),
                escape(uri),
                escape(&host),
                rule.fix
            );
        }
    }
    if errors {
        eprintln!("error: apps of set `{set}` break the policy in the tenant; nothing was written");
        return false;
    }
    true
}
