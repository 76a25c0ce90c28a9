//! What the scale benchmarks share: the sizes and latency they run at, the sandbox they start and
//! a Graph client built the way `appreg` builds one. Each bench includes it with `mod common;`
//! (a directory, so cargo does not take it for a bench of its own).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use appreg::emulator::{ConnectionInfo, Faults, RunningSandbox, Sandbox, SandboxConfig};
use appreg::graph::{Cloud, GraphClient};

/// appreg's in-flight bound against the sandbox and a tenant (src/cli/target.rs).
pub const MAX_IN_FLIGHT: usize = 8;

/// Seeded principals (src/emulator/seed.rs): assignments cycle through them.
pub const USERS: &[&str] = &[
    "adele.vance@contoso.com",
    "alex.wilber@contoso.com",
    "conor.obrien@contoso.com",
    "megan.bowen@contoso.com",
    "mail-sender@contoso.com",
];
pub const GROUPS: &[&str] = &["Odoo mail senders", "All staff", "IT admins"];

/// Apps per manifest file, as a large tenant splits its manifest (a file is capped at 1 MiB).
const APPS_PER_FILE: usize = 100;

pub fn app_key(i: usize) -> String {
    format!("bench-app-{i:04}")
}

/// The scale benchmarks' manifest of `n` apps of set `set`, in files of 100 apps: each app has a
/// web redirect URI, delegated `User.Read` and application `User.Read.All` on Microsoft Graph,
/// application `SMTP.SendAsApp` on Office 365 Exchange Online, admin consent, two assignments (a
/// seeded user and a seeded group, in turn) and one GitHub federated credential. Returns the files
/// and their size in bytes.
pub fn write_manifest(dir: &Path, set: &str, n: usize) -> (Vec<PathBuf>, u64) {
    let mut paths = Vec::new();
    let mut bytes = 0;
    for (file, chunk) in (0..n).collect::<Vec<_>>().chunks(APPS_PER_FILE).enumerate() {
        let mut text = format!("version: 1\nname: {set}\napps:\n");
        for &i in chunk {
            let key = app_key(i);
            let user = USERS[i % USERS.len()];
            let group = GROUPS[i % GROUPS.len()];
            text.push_str(&format!(
                "  {key}:
    displayName: Bench app {i:04}
    web:
      redirectUris: [https://app{i:04}.example.com/auth/callback]
    permissions:
      Microsoft Graph:
        delegated: [User.Read]
        application: [User.Read.All]
      Office 365 Exchange Online:
        application: [SMTP.SendAsApp]
    adminConsent: true
    servicePrincipal:
      assignments:
        - user: {user}
        - group: {group}
    federatedCredentials:
      - name: github-deploy
        issuer: https://token.actions.githubusercontent.com
        subject: repo:contoso/{key}:environment:prod
"
            ));
        }
        let path = dir.join(format!("apps-{file:03}.yaml"));
        bytes += text.len() as u64;
        std::fs::write(&path, text).expect("write the manifest");
        paths.push(path);
    }
    (paths, bytes)
}

/// The app counts to run: the bench's arguments (`-- 10 100`), else `APPREG_BENCH_SIZES`
/// (`10,100`), else 10, 100 and 1,000.
pub fn sizes() -> Vec<usize> {
    let from_args: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .flat_map(|a| {
            a.split(',')
                .filter_map(|s| s.trim().parse().ok())
                .collect::<Vec<_>>()
        })
        .collect();
    if !from_args.is_empty() {
        return from_args;
    }
    match std::env::var("APPREG_BENCH_SIZES") {
        Ok(text) if !text.trim().is_empty() => text
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("APPREG_BENCH_SIZES: `{s}` is not a number"))
            })
            .collect(),
        _ => vec![10, 100, 1000],
    }
}

/// Injected latency per round trip: 50 ms, or `APPREG_BENCH_LATENCY_MS`.
pub fn latency() -> Duration {
    let ms = std::env::var("APPREG_BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(50);
    Duration::from_millis(ms)
}

/// A fixed latency, no jitter, no other fault.
pub fn faults(latency: Duration) -> Faults {
    Faults {
        latency,
        jitter: Duration::ZERO,
        ..Faults::default()
    }
}

/// A fresh sandbox tenant with `latency` per round trip.
pub async fn sandbox(latency: Duration) -> RunningSandbox {
    Sandbox::start(SandboxConfig {
        faults: faults(latency),
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox")
}

/// A Graph client for the sandbox built the way `appreg` builds it (src/cli/target.rs): the admin
/// app's client secret through the credential chain, `max_in_flight` requests in flight.
pub fn client_for(sandbox: &RunningSandbox, max_in_flight: usize) -> GraphClient {
    client_from_info(&sandbox.connection_info(), max_in_flight)
}

/// The same client from a sandbox's connection info (a sandbox in another process prints it).
pub fn client_from_info(info: &ConnectionInfo, max_in_flight: usize) -> GraphClient {
    let (client, _) = appreg::cli::sandbox_client(info, Cloud::Global, |config| {
        config.max_in_flight = max_in_flight;
    })
    .expect("graph client");
    client
}

/// An app-only Graph token for the sandbox's admin application, by client credentials at its
/// token endpoint (for raw Graph seeding and clients other than appreg's).
pub async fn admin_token(http: &reqwest::Client, info: &ConnectionInfo) -> String {
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", &info.client_id)
        .append_pair("client_secret", &info.client_secret)
        .append_pair("scope", "https://graph.microsoft.com/.default")
        .finish();
    let answer: serde_json::Value = http
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            info.authority_url, info.tenant_id
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token answer");
    answer["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// A `kB` line of `/proc/self/status` (VmRSS, VmHWM), in kB; 0 when it cannot be read.
pub fn status_kb(name: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            rest.trim().trim_end_matches("kB").trim().parse().ok()
        })
        .unwrap_or(0)
}
