//! Command-line shape: clap definitions, global settings, and one module per command.
//!
//! Command modules stay thin: parse, resolve settings, call one library function, render the result,
//! and map it to an exit code. Nothing here talks to Graph directly.

mod apply;
mod audit;
mod completions;
mod credentials;
mod import;
mod output;
mod plan;
mod progress;
mod run;
mod sandbox;
mod schema;
pub mod settings;
mod target;
mod validate;

pub use target::sandbox_client;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit code for success with nothing to report.
pub const EXIT_OK: u8 = 0;
/// Exit code for any error, including an invalid manifest.
pub const EXIT_ERROR: u8 = 1;
/// Exit code for "there are changes" (`plan --detailed-exitcode`, `drift`).
pub const EXIT_CHANGES: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "appreg",
    version,
    about = "Keep Microsoft Entra ID app registrations as code",
    long_about = "appreg reads app registrations declared in YAML manifests, compares them with the live \
                  tenant through Microsoft Graph, and applies the differences idempotently."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Heading of the flags that matter only to commands that reach a tenant.
pub const TENANT_OPTIONS: &str = "Tenant options";

/// Commands that reach a tenant; every other command's help leaves the tenant options out.
const TENANT_COMMANDS: [&str; 7] = [
    "plan",
    "apply",
    "drift",
    "output",
    "credentials",
    "audit",
    "import",
];

/// Flags every command accepts (before or after the command name, as pipelines write them). Tenant
/// and cloud settings matter only to commands that reach a tenant, and only those list them.
#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// Directory (tenant) id or verified domain; overrides AZURE_TENANT_ID and the manifest's `tenant`.
    #[arg(long, global = true, help_heading = TENANT_OPTIONS, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// Microsoft cloud whose authority and Graph hosts are used.
    #[arg(long, global = true, help_heading = TENANT_OPTIONS, value_enum, default_value_t = Cloud::Global)]
    pub cloud: Cloud,
    /// Microsoft Graph base URL, overriding the cloud's (http only for loopback addresses).
    #[arg(long, global = true, help_heading = TENANT_OPTIONS, value_name = "URL")]
    pub graph_url: Option<url::Url>,
    /// Login authority URL, overriding the cloud's (http only for loopback addresses).
    #[arg(long, global = true, help_heading = TENANT_OPTIONS, value_name = "URL")]
    pub authority_url: Option<url::Url>,
    /// Send Key Vault requests to this address instead, naming the vault in the Host header (how
    /// tests reach `appreg sandbox serve`'s Key Vault; http only for loopback addresses).
    #[arg(long, global = true, help_heading = TENANT_OPTIONS, value_name = "URL", env = "APPREG_KEY_VAULT_URL")]
    pub key_vault_url: Option<url::Url>,
    /// Let a `stdout` secret sink print in CI (`CI=true` or `GITHUB_ACTIONS=true`), where it is
    /// refused otherwise because job logs are widely read; GitHub Actions masks the value first.
    #[arg(long, global = true, help_heading = TENANT_OPTIONS)]
    pub allow_stdout_secrets: bool,
    /// How to authenticate to Microsoft Graph; `auto` tries, in order: secret, certificate,
    /// workload-identity, github-oidc, managed-identity, azure-cli, device-code (at a terminal).
    #[arg(long, global = true, help_heading = TENANT_OPTIONS, value_enum, default_value_t = settings::AuthArg::Auto, value_name = "METHOD")]
    pub auth: settings::AuthArg,
    /// Target the local sandbox tenant in .appreg/ even when a tenant is configured.
    #[arg(long, global = true, help_heading = TENANT_OPTIONS)]
    pub sandbox: bool,
    /// More detail on stderr; repeat for more (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Graph requests (and `$batch` envelopes) in flight at once.
    #[arg(long, global = true, help_heading = TENANT_OPTIONS, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,
    /// Progress on stderr (phases, counts of Graph reads and writes): `auto` draws it only when
    /// stderr is a terminal, so pipelines' logs never get it.
    #[arg(long, global = true, help_heading = TENANT_OPTIONS, value_enum, default_value_t = progress::ProgressChoice::Auto, value_name = "WHEN")]
    pub progress: progress::ProgressChoice,
    /// When to use colors; NO_COLOR in the environment means never unless `always` is given.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Judge API retirement dates and secret and certificate rotation as of this day
    /// (YYYY-MM-DD, UTC) instead of today: check ahead whether a manifest still passes, and what
    /// rotation will be due, on a coming date. apply rotates what is due by then.
    #[arg(long, global = true, value_name = "DATE")]
    pub as_of: Option<chrono::NaiveDate>,
}

impl GlobalArgs {
    /// The day retirement dates are judged on: `--as-of`, else today (UTC).
    pub fn today(&self) -> chrono::NaiveDate {
        self.as_of.unwrap_or_else(crate::manifest::today)
    }

    /// The present moved to the `--as-of` day (same time of day), for rotation; `None` for now.
    pub fn as_of_instant(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let today = crate::manifest::today();
        let day = self.as_of.filter(|day| *day != today)?;
        Some(chrono::Utc::now() + (day - today))
    }

    /// The moment expiry is judged at: `--as-of`'s, else now.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.as_of_instant().unwrap_or_else(chrono::Utc::now)
    }

    /// Says on stderr when `--as-of` moves the day, so a report judged on another day is never
    /// mistaken for today's (an earlier day silences retirements that have already happened).
    pub fn note_as_of(&self) {
        let today = crate::manifest::today();
        if let Some(day) = self.as_of.filter(|day| *day != today) {
            eprintln!(
                "appreg: judging API retirement dates and rotation as of {day} (--as-of), not today ({today})"
            );
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Cloud {
    Global,
    Usgov,
    UsgovDod,
    China,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether output written to stderr should carry ANSI colors.
    pub fn for_stderr(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => no_color_unset() && std::io::stderr().is_terminal(),
        }
    }

    /// Whether output written to stdout should carry ANSI colors.
    pub fn for_stdout(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => no_color_unset() && std::io::stdout().is_terminal(),
        }
    }
}

fn no_color_unset() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests offline and report every problem with its file:line:column.
    Validate(validate::ValidateArgs),
    /// Print the JSON Schema of the manifest format (or of the plan format).
    Schema(schema::SchemaArgs),
    /// Show what apply would change in the tenant.
    Plan(plan::PlanArgs),
    /// Make the tenant match the manifest (or apply a saved plan exactly).
    Apply(apply::ApplyArgs),
    /// Report every difference between tenant and manifest; exit 2 when there is any.
    Drift(plan::DriftArgs),
    /// Print each app's ids and consent URLs, read from the tenant.
    Output(output::OutputArgs),
    /// List every credential of the manifest's apps with expiry and days left.
    Credentials(credentials::CredentialsArgs),
    /// Judge every app registration and service principal of the tenant by the rule catalogue
    /// (docs/rules.md); exit 3 when a finding reaches `--fail-on`.
    Audit(audit::AuditArgs),
    /// Write manifests for apps registered by hand (selected by appId, filter, owner or all),
    /// so that adopting them plans only the adoption. Never writes to the tenant.
    Import(import::ImportArgs),
    /// Run or reset the local sandbox tenant (a Microsoft Graph emulator).
    Sandbox(sandbox::SandboxArgs),
    /// Print shell completions (bash, zsh, fish, powershell).
    Completions(completions::CompletionsArgs),
    /// Print the manual page (or write one per command with --dir).
    Man(completions::ManArgs),
}

/// The command-line definition as the binary parses it, and as completions and manual pages are
/// generated from: the tenant options are hidden from the help of commands that never reach a
/// tenant (they stay accepted there, so one set of flags fits every command of a pipeline).
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let mut command = Cli::command();
    // A subcommand that defines an argument itself does not receive the global one of that id:
    // give the quiet commands hidden copies.
    let tenant_args: Vec<clap::Arg> = command
        .get_arguments()
        .filter(|a| a.get_help_heading() == Some(TENANT_OPTIONS))
        .cloned()
        .collect();
    let quiet: Vec<String> = command
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .filter(|name| !TENANT_COMMANDS.contains(&name.as_str()))
        .collect();
    for name in quiet {
        command = command.mut_subcommand(&name, |sub| {
            sub.args(tenant_args.iter().map(|a| a.clone().hide(true)))
        });
    }
    command
}

/// Entry point of the binary: parse, run, map the outcome to an exit code.
pub fn main() -> ExitCode {
    use clap::FromArgMatches;
    let parsed = command()
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Usage errors exit 1 like every other error: exit 2 means "changes present".
            return ExitCode::from(if e.use_stderr() { EXIT_ERROR } else { EXIT_OK });
        }
    };
    init_logging(cli.global.verbose, cli.global.color.for_stderr());
    run::set_stdout_color(cli.global.color.for_stdout());
    let code = match cli.command {
        Command::Validate(args) => validate::run(&cli.global, &args),
        Command::Schema(args) => schema::run(&args),
        Command::Plan(args) => plan::run(&cli.global, &args),
        Command::Apply(args) => apply::run(&cli.global, &args),
        Command::Drift(args) => plan::drift(&cli.global, &args),
        Command::Output(args) => output::run(&cli.global, &args),
        Command::Credentials(args) => credentials::run(&cli.global, &args),
        Command::Audit(args) => audit::run(&cli.global, &args),
        Command::Import(args) => import::run(&cli.global, &args),
        Command::Sandbox(args) => sandbox::run(&args),
        Command::Completions(args) => completions::completions(&args),
        Command::Man(args) => completions::man(&args),
    };
    ExitCode::from(code)
}

/// Logs go to stderr; `-v` shows info, `-vv` debug, `-vvv` trace. `RUST_LOG` overrides.
fn init_logging(verbose: u8, color: bool) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("appreg={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || LogWriter { color })
        .with_ansi(color)
        .with_target(false)
        .try_init();
}

/// stderr for log events, which quote paths, names and answers from Graph: each event (one write)
/// is guarded line by line (no runner command, no control character unless appreg colors its
/// logs itself).
struct LogWriter {
    color: bool,
}

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let safe = crate::output::untrusted::guard_lines(&text, self.color);
        std::io::stderr().lock().write_all(safe.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().lock().flush()
    }
}
