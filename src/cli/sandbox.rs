//! `appreg sandbox serve|reset`: run the Graph and Key Vault emulator standalone, or empty a saved
//! sandbox.
//!
//! `serve` prints exactly one JSON line on stdout once it accepts connections (the only place the
//! admin secret is ever written): the Graph, authority and Key Vault URLs and the admin
//! credentials. Everything else goes to stderr.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::emulator::{self, Faults, Sandbox, SandboxConfig};

#[derive(Debug, clap::Args)]
pub struct SandboxArgs {
    #[command(subcommand)]
    pub command: SandboxCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum SandboxCommand {
    /// Serve the sandbox tenant's Graph, token and Key Vault endpoints until interrupted.
    Serve(Box<ServeArgs>),
    /// Empty a saved sandbox (a freshly seeded tenant with a new admin secret).
    Reset(ResetArgs),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Loopback address to listen on (port 0 picks a free port); other addresses are refused.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Sandbox state file (created when missing).
    #[arg(long, value_name = "FILE", default_value = emulator::DEFAULT_STATE_FILE)]
    pub state: PathBuf,
    /// Seed of the ids of a fresh tenant and of the fault generator.
    #[arg(long, default_value_t = SandboxConfig::default().seed)]
    pub seed: u64,
    /// Lifetime of issued access tokens (e.g. 3599s, 5m).
    #[arg(long, value_parser = parse_duration, default_value = "3599s")]
    pub token_lifetime: Duration,
    /// Latency added to every answer (e.g. 50ms).
    #[arg(long, value_parser = parse_duration, default_value = "0ms")]
    pub latency: Duration,
    /// Extra random latency, uniform up to this value.
    #[arg(long, value_parser = parse_duration, default_value = "0ms")]
    pub jitter: Duration,
    /// Objects and credentials written less than this long ago are invisible to reads.
    #[arg(long, value_parser = parse_duration, default_value = "0ms")]
    pub replication_lag: Duration,
    /// Probability (0..1) that a Graph request answers 429.
    #[arg(long, default_value_t = 0.0)]
    pub throttle_rate: f64,
    /// Retry-After of random 429/503 answers.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub retry_after: Duration,
    /// Resource units each app may spend per 10 s before 429s.
    #[arg(long)]
    pub resource_unit_budget: Option<u32>,
    /// Probability (0..1) that a Graph request answers 503.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Largest page any collection read returns.
    #[arg(long)]
    pub page_size_cap: Option<usize>,
    /// Tenant policy: longest client secret addPassword accepts (e.g. 180d, P180D).
    #[arg(long, value_parser = parse_duration)]
    pub max_secret_lifetime: Option<Duration>,
    /// Probability (0..1) that a request is processed but its connection reset before the answer.
    #[arg(long, default_value_t = 0.0)]
    pub reset_rate: f64,
    /// Probability (0..1) that an answer is delayed by --slow-delay.
    #[arg(long, default_value_t = 0.0)]
    pub slow_rate: f64,
    #[arg(long, value_parser = parse_duration, default_value = "0ms")]
    pub slow_delay: Duration,
    /// Serve https with a certificate signed by a sandbox CA made beside the state file (its path
    /// is `caCertPath` in the printed line; trust it with REQUESTS_CA_BUNDLE or SSL_CERT_FILE).
    #[arg(long)]
    pub tls: bool,
    /// A domain verified in the sandbox tenant (repeatable), besides contoso.onmicrosoft.com and
    /// contoso.com: https identifierUris must use one of them as host.
    #[arg(long = "verified-domain", value_name = "DOMAIN")]
    pub verified_domains: Vec<String>,
    /// Never write the state file: the tenant is read from it when it exists and kept in memory
    /// (for benchmarks, where rewriting the file would be measured instead of the directory).
    #[arg(long)]
    pub no_persist: bool,
}

#[derive(Debug, clap::Args)]
pub struct ResetArgs {
    /// Sandbox state file to empty.
    #[arg(long, value_name = "FILE", default_value = emulator::DEFAULT_STATE_FILE)]
    pub state: PathBuf,
    /// Seed of the fresh tenant's ids.
    #[arg(long, default_value_t = SandboxConfig::default().seed)]
    pub seed: u64,
}

/// Parses `250ms`, `30s`, `5m`, `12h`, `180d`, or an ISO-8601 duration of days/hours/minutes/seconds
/// (`P180D`, `PT1H30M`) as tenant policies write them.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let invalid =
        || format!("invalid duration '{text}' (examples: 250ms, 30s, 5m, 12h, 180d, P180D)");
    if let Some(iso) = text.strip_prefix('P').or_else(|| text.strip_prefix('p')) {
        let mut total = 0f64;
        let mut number = String::new();
        let mut in_time = false;
        for c in iso.chars() {
            match c.to_ascii_uppercase() {
                'T' => in_time = true,
                d if d.is_ascii_digit() || d == '.' => number.push(d),
                unit => {
                    let value: f64 = number.parse().map_err(|_| invalid())?;
                    number.clear();
                    total += value
                        * match (unit, in_time) {
                            ('D', false) => 86_400.0,
                            ('W', false) => 604_800.0,
                            ('H', true) => 3_600.0,
                            ('M', true) => 60.0,
                            ('S', true) => 1.0,
                            _ => return Err(invalid()),
                        };
                }
            }
        }
        return if number.is_empty() {
            Ok(Duration::from_secs_f64(total))
        } else {
            Err(invalid())
        };
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(invalid)?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3_600.0,
        "d" => value * 86_400.0,
        _ => return Err(invalid()),
    };
    Ok(Duration::from_secs_f64(seconds))
}

fn probability(name: &str, value: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("--{name} must be between 0 and 1"))
    }
}

fn faults(args: &ServeArgs) -> Result<Faults, String> {
    Ok(Faults {
        latency: args.latency,
        jitter: args.jitter,
        replication_lag: args.replication_lag,
        throttle_probability: probability("throttle-rate", args.throttle_rate)?,
        retry_after: args.retry_after,
        resource_unit_budget: args.resource_unit_budget,
        server_error_probability: probability("error-rate", args.error_rate)?,
        page_size_cap: args.page_size_cap,
        max_secret_lifetime: args.max_secret_lifetime,
        reset_probability: probability("reset-rate", args.reset_rate)?,
        slow_probability: probability("slow-rate", args.slow_rate)?,
        slow_delay: args.slow_delay,
        ..Faults::default()
    })
}

pub fn run(args: &SandboxArgs) -> u8 {
    match &args.command {
        SandboxCommand::Serve(serve_args) => serve(serve_args),
        SandboxCommand::Reset(reset) => match emulator::reset_state(&reset.state, reset.seed) {
            Ok(()) => {
                eprintln!("sandbox reset: {}", reset.state.display());
                super::EXIT_OK
            }
            Err(error) => {
                eprintln!("error: {error}");
                super::EXIT_ERROR
            }
        },
    }
}

/// The sandbox hands out tokens to anyone holding its admin secret, and prints that secret; it
/// serves this machine only.
fn loopback_only(listen: SocketAddr) -> Result<(), String> {
    if listen.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "the sandbox listens on loopback addresses only, not {}: it issues tokens for its admin app \
             and serves a request log, which must not be reachable from other machines\n\
             help: use --listen 127.0.0.1:{} (or [::1]:{})",
            listen.ip(),
            listen.port(),
            listen.port()
        ))
    }
}

fn serve(args: &ServeArgs) -> u8 {
    if let Err(message) = loopback_only(args.listen) {
        eprintln!("error: {message}");
        return super::EXIT_ERROR;
    }
    let faults = match faults(args) {
        Ok(faults) => faults,
        Err(message) => {
            eprintln!("error: {message}");
            return super::EXIT_ERROR;
        }
    };
    let config = SandboxConfig {
        listen: args.listen,
        // Key Vault listens beside Graph, on the same address with a port of its own.
        key_vault_listen: SocketAddr::new(args.listen.ip(), 0),
        state_file: Some(args.state.clone()),
        persist: !args.no_persist,
        seed: args.seed,
        token_lifetime: args.token_lifetime,
        faults,
        tls: args.tls,
        verified_domains: args.verified_domains.clone(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: could not start the async runtime: {error}");
            return super::EXIT_ERROR;
        }
    };
    runtime.block_on(async {
        let sandbox = match Sandbox::start(config).await {
            Ok(sandbox) => sandbox,
            Err(error) => {
                eprintln!("error: {error}");
                return super::EXIT_ERROR;
            }
        };
        let line = serde_json::to_string(&sandbox.connection_info()).unwrap_or_default();
        let mut stdout = std::io::stdout().lock();
        if writeln!(stdout, "{line}")
            .and_then(|_| stdout.flush())
            .is_err()
        {
            return super::EXIT_ERROR;
        }
        drop(stdout);
        eprintln!(
            "sandbox: Graph at {}, Key Vault at {} (the Host header names the vault)",
            sandbox.graph_url(),
            sandbox.key_vault_url()
        );
        wait_for_signal().await;
        sandbox.shutdown().await;
        super::EXIT_OK
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_both_notations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(
            parse_duration("180d"),
            Ok(Duration::from_secs(180 * 86_400))
        );
        assert_eq!(
            parse_duration("P180D"),
            Ok(Duration::from_secs(180 * 86_400))
        );
        assert_eq!(parse_duration("PT1H30M"), Ok(Duration::from_secs(5_400)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("10x").is_err());
    }

    #[test]
    fn only_loopback_addresses_are_served() {
        // Each case: address, accepted, why.
        let cases = [
            ("127.0.0.1:0", true, "the default"),
            ("127.0.0.2:8080", true, "all of 127/8 is loopback"),
            ("[::1]:0", true, "IPv6 loopback"),
            ("0.0.0.0:8080", false, "every interface"),
            ("[::]:8080", false, "every IPv6 interface"),
            ("192.168.1.10:8080", false, "a LAN address"),
            (
                "[::ffff:127.0.0.1]:8080",
                false,
                "IPv4-mapped, served on an IPv6 socket",
            ),
        ];
        for (address, accepted, why) in cases {
            let result = loopback_only(address.parse().unwrap());
            assert_eq!(result.is_ok(), accepted, "{why}: {result:?}");
        }
    }
}
