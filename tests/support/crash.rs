//! Helpers of the crash tests: a seeded generator, the sinks' side of a secret (what a consumer
//! reads and whether it works), and the real binary killed at an exact request of its apply.
//! Nothing here asserts: callers decide what a wrong answer means.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use appreg::emulator::{EntryKind, Faults, RunningSandbox};
use serde_json::Value;

use super::tenant::{Raw, cli_command};

/// SplitMix64: a tiny, dependency-free generator, so a printed seed replays a run exactly
/// whatever the `rand` version.
#[derive(Debug, Clone)]
pub struct SeededRng(u64);

impl SeededRng {
    pub fn new(seed: u64) -> SeededRng {
        SeededRng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `low..=high` (the modulo bias is irrelevant at these sizes).
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }
}

/// Where a declared secret's value goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSink {
    /// A JSON file, relative to the manifest's directory.
    File(String),
    /// A secret in the sandbox's Key Vault.
    Vault { host: String, secret: String },
}

impl SecretSink {
    /// The `deliver:` value of a manifest.
    pub fn deliver_yaml(&self) -> String {
        match self {
            SecretSink::File(path) => format!("{{ file: {path} }}"),
            SecretSink::Vault { host, secret } => {
                format!("{{ keyVault: {{ vault: \"https://{host}\", secret: {secret} }} }}")
            }
        }
    }
}

/// What a sink holds, as a consumer reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub app_id: String,
    pub key_id: String,
    pub value: String,
}

/// The sink's current value, if it holds one (manifest directory `dir`).
pub fn held(sb: &RunningSandbox, dir: &Path, sink: &SecretSink) -> Option<Held> {
    let (app_id, key_id, value) = match sink {
        SecretSink::Vault { host, secret } => {
            let b = sb.key_vault_secret(host, secret)?;
            (
                b["tags"]["appId"].clone(),
                b["tags"]["keyId"].clone(),
                b["value"].clone(),
            )
        }
        SecretSink::File(path) => {
            let text = std::fs::read_to_string(dir.join(path)).ok()?;
            let v: Value = serde_json::from_str(&text).ok()?;
            (
                v["appId"].clone(),
                v["keyId"].clone(),
                v["clientSecret"].clone(),
            )
        }
    };
    Some(Held {
        app_id: app_id.as_str()?.to_string(),
        key_id: key_id.as_str()?.to_string(),
        value: value.as_str()?.to_string(),
    })
}

/// Whether the tenant issues a client-credentials token for `app_id` with `secret`: what a
/// consumer holding that value would do with it.
pub async fn works(sb: &RunningSandbox, app_id: &str, secret: &str) -> bool {
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", app_id)
        .append_pair("client_secret", secret)
        .append_pair("scope", "https://graph.microsoft.com/.default")
        .finish();
    reqwest::Client::new()
        .post(sb.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap()
        .status()
        .is_success()
}

/// Key ids of the app's password credentials named `name`, sorted; empty when the app is gone.
pub async fn password_key_ids(raw: &Raw, unique_name: &str, name: &str) -> Vec<String> {
    let (status, body) = raw
        .call(
            reqwest::Method::GET,
            &format!("/applications(uniqueName='{unique_name}')"),
            None,
        )
        .await;
    if status == 404 {
        return Vec::new();
    }
    let mut ids: Vec<String> = body["passwordCredentials"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["displayName"] == name)
        .filter_map(|c| c["keyId"].as_str().map(str::to_string))
        .collect();
    ids.sort();
    ids
}

/// When the kill comes, once the sandbox has taken the k-th request of the apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillTiming {
    /// As soon as the k-th request arrived: it may not have been processed yet.
    OnArrival,
    /// As soon as the k-th request was processed (its answer withheld).
    AtFreeze,
    /// That many milliseconds after the freeze: the client has reached its wait.
    AfterFreeze(u64),
}

impl std::fmt::Display for KillTiming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KillTiming::OnArrival => write!(f, "on arrival"),
            KillTiming::AtFreeze => write!(f, "at freeze"),
            KillTiming::AfterFreeze(ms) => write!(f, "freeze+{ms}ms"),
        }
    }
}

/// How a run of the binary under a freeze point ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillOutcome {
    /// SIGKILLed mid-apply.
    Killed,
    /// The apply ended (with this exit code) before reaching the k-th request.
    Finished(Option<i32>),
}

/// Runs the binary with `args` in `cwd`, the sandbox freezing at the k-th request from now, and
/// SIGKILLs it at `timing`; the freeze point is cleared afterwards (held requests stay held).
/// An error when the apply neither ends nor reaches the freeze point within a minute.
pub async fn run_killed_at(
    sb: &RunningSandbox,
    cwd: &Path,
    args: &[&str],
    k: u64,
    timing: KillTiming,
) -> Result<KillOutcome, String> {
    let base = sb.requests_seen();
    sb.set_faults(Faults {
        freeze_after: Some(base + k),
        ..Faults::default()
    });
    let mut child = cli_command(sb, cwd, args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let outcome = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Ok(KillOutcome::Finished(status.code()));
        }
        let due = match timing {
            KillTiming::OnArrival => sb.requests_seen() >= base + k,
            KillTiming::AtFreeze | KillTiming::AfterFreeze(_) => sb.is_frozen(),
        };
        if due {
            if let KillTiming::AfterFreeze(ms) = timing {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            child.kill().unwrap();
            child.wait().unwrap();
            break Ok(KillOutcome::Killed);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break Err(format!(
                "k={k}: the apply neither ended nor froze within a minute"
            ));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    sb.set_faults(Faults::default());
    outcome
}

/// A fresh directory for one run's manifests and file sinks, under cargo's scratch directory.
pub fn run_dir(prefix: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes in the sandbox's request log since it was last cleared: Graph writes (batch items
/// included) and Key Vault writes, as `METHOD path -> status`.
pub fn writes_with_key_vault(sb: &RunningSandbox) -> Vec<String> {
    sb.request_log()
        .requests
        .iter()
        .filter(|e| e.method != "GET" && (e.is_write() || matches!(e.kind, EntryKind::KeyVault)))
        .map(|e| {
            format!(
                "{} {}{} -> {}",
                e.method,
                e.host
                    .as_deref()
                    .map(|h| format!("{h} "))
                    .unwrap_or_default(),
                e.path,
                e.status
            )
        })
        .collect()
}

/// The log since it was last cleared as numbered HTTP round trips (batch items indented under
/// their envelope), in the order the sandbox logged them: roughly the k of each step.
pub fn request_trace(sb: &RunningSandbox) -> Vec<String> {
    let mut entries = sb.request_log().requests;
    entries.sort_by_key(|e| (e.batch_seq.unwrap_or(e.seq), e.batch_seq.is_some(), e.seq));
    let mut n = 0;
    entries
        .iter()
        .map(|e| {
            let host = e
                .host
                .as_deref()
                .map(|h| format!("{h} "))
                .unwrap_or_default();
            if matches!(e.kind, EntryKind::BatchItem) {
                format!("       {} {} -> {}", e.method, e.path, e.status)
            } else {
                n += 1;
                format!("{n:>4}. {} {host}{} -> {}", e.method, e.path, e.status)
            }
        })
        .collect()
}
