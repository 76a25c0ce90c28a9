//! Delivery sinks: where a new secret value goes, exactly once, and what each sink says it holds.
//!
//! - `file`: JSON `{tenantId, appId, clientSecret, keyId, expiry, created}`, mode 0600, written to
//!   a temporary file beside it and renamed, so a reader sees the old or the new file, never half;
//!   opened only through [`super::files`] (inside the manifest's directory, no links, bounded).
//! - `keyVault`: a new secret version; tags carry keyId, expiry, appId and tenantId.
//! - `github`: `::add-mask::` on stdout first, then the value into `$GITHUB_OUTPUT`, and a line
//!   without it in `$GITHUB_STEP_SUMMARY`.
//! - `stdout`: one JSON line, only because the manifest asked for it. In CI (`CI=true` or
//!   `GITHUB_ACTIONS=true`) it is refused unless the operator passed `--allow-stdout-secrets`: a
//!   manifest may come from a pull request, and a job log is read by more people than the secret
//!   is meant for. Allowed under GitHub Actions, the value is masked (`::add-mask::`) first.
//!
//! File and Key Vault sinks are readable: the keyId they hold tells the current credential from
//! orphans. The value itself is read by nobody here.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::files::{self, FileError};
use super::keyvault::KeyVaultClient;
use super::lifecycle::Holding;
use crate::graph::Secret;
use crate::model::SecretSink;

/// What delivery needs besides the value.
#[derive(Debug, Clone)]
pub struct Delivery<'a> {
    /// Plan address of the secret, for messages: `app.crm.secret.vendor-handoff`.
    pub address: &'a str,
    pub tenant_id: &'a str,
    pub app_id: &'a str,
    pub key_id: &'a str,
    pub expiry: DateTime<Utc>,
    pub created: DateTime<Utc>,
    /// keyIds of the earlier generations that stay, recorded beside the value (see
    /// [`Holding::Holds`]).
    pub earlier: &'a [String],
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error(transparent)]
    KeyVault(#[from] super::keyvault::KeyVaultError),
    #[error("GitHub output `{output}`: {reason}")]
    Github { output: String, reason: String },
    #[error("stdout: {0}")]
    Stdout(String),
}

/// Where the process's stdout goes (tests capture it).
pub type Stdout = Arc<Mutex<dyn Write + Send>>;

/// What the `stdout` sink may do in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdoutPolicy {
    /// Not in CI: the value is printed, as the manifest asked.
    Print,
    /// In CI without `--allow-stdout-secrets`: refused before any credential is created.
    Refuse,
    /// Under GitHub Actions with `--allow-stdout-secrets`: masked, then printed.
    MaskThenPrint,
}

impl StdoutPolicy {
    /// The policy for a run: CI is `CI=true` or `GITHUB_ACTIONS=true` in the environment.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>, allowed: bool) -> StdoutPolicy {
        let set = |name: &str| env(name).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let github = set("GITHUB_ACTIONS");
        match (github || set("CI"), allowed) {
            (false, _) => StdoutPolicy::Print,
            (true, false) => StdoutPolicy::Refuse,
            (true, true) if github => StdoutPolicy::MaskThenPrint,
            (true, true) => StdoutPolicy::Print,
        }
    }
}

/// Everything the sinks need from the outside world.
#[derive(Clone)]
pub struct Sinks {
    pub key_vault: Option<KeyVaultClient>,
    /// `$GITHUB_OUTPUT` and `$GITHUB_STEP_SUMMARY`, when running in GitHub Actions.
    pub github_output: Option<PathBuf>,
    pub step_summary: Option<PathBuf>,
    pub stdout: Stdout,
    pub stdout_policy: StdoutPolicy,
}

impl Sinks {
    /// Sinks for a run: Key Vault through `key_vault`, GitHub files and CI from the environment.
    /// The `stdout` sink is refused in CI until [`Sinks::allow_stdout_secrets`].
    pub fn new(key_vault: Option<KeyVaultClient>, env: &dyn Fn(&str) -> Option<String>) -> Sinks {
        let path = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        Sinks {
            key_vault,
            github_output: path("GITHUB_OUTPUT"),
            step_summary: path("GITHUB_STEP_SUMMARY"),
            stdout: Arc::new(Mutex::new(std::io::stdout())),
            stdout_policy: StdoutPolicy::from_env(env, false),
        }
    }

    /// The operator's `--allow-stdout-secrets`: a `stdout` sink works in CI too (masked first
    /// under GitHub Actions).
    pub fn allow_stdout_secrets(mut self, env: &dyn Fn(&str) -> Option<String>) -> Sinks {
        self.stdout_policy = StdoutPolicy::from_env(env, true);
        self
    }

    /// Whether the sink can be read back.
    pub fn is_readable(sink: &SecretSink) -> bool {
        matches!(sink, SecretSink::File(_) | SecretSink::KeyVault { .. })
    }

    /// What `sink` holds for the app `app_id` (lower-case GUID) of `tenant_id`.
    pub async fn holding(
        &self,
        sink: &SecretSink,
        tenant_id: &str,
        app_id: &str,
    ) -> Result<Holding, SinkError> {
        match sink {
            SecretSink::File(path) => {
                let (path, tenant_id, app_id) =
                    (path.clone(), tenant_id.to_string(), app_id.to_string());
                tokio::task::spawn_blocking(move || read_file(&path, &tenant_id, &app_id))
                    .await
                    .map_err(|e| SinkError::Stdout(format!("reading a secret file: {e}")))?
            }
            SecretSink::KeyVault { vault, secret } => {
                let client = self.key_vault()?;
                let Some(latest) = client.latest(vault, secret).await? else {
                    return Ok(Holding::Empty);
                };
                let tag = |k: &str| latest.tags.get(k).map(String::as_str);
                if !tag("appId").is_some_and(|a| a.eq_ignore_ascii_case(app_id)) {
                    return Ok(Holding::Empty);
                }
                Ok(match tag("keyId") {
                    Some(key_id) => Holding::Holds {
                        key_id: key_id.to_lowercase(),
                        delivered: latest
                            .created
                            .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0)),
                        earlier: tag("earlierKeyIds")
                            .unwrap_or_default()
                            .split(',')
                            .filter(|k| !k.is_empty())
                            .map(str::to_lowercase)
                            .collect(),
                    },
                    None => Holding::Empty,
                })
            }
            SecretSink::GithubOutput { .. } | SecretSink::Stdout => Ok(Holding::WriteOnly),
        }
    }

    /// Checks, before any credential is created, that the sink can take a value.
    pub fn preflight(&self, sink: &SecretSink) -> Result<(), SinkError> {
        match sink {
            SecretSink::File(path) => files::check_writable(path).map_err(|e| file_error(path, e)),
            SecretSink::KeyVault { .. } => self.key_vault().map(|_| ()),
            SecretSink::GithubOutput { output } => self.github_files(output).map(|_| ()),
            SecretSink::Stdout if self.stdout_policy == StdoutPolicy::Refuse => {
                Err(SinkError::Stdout(
                    "refused in CI: the client secret would be printed into the job log. help: deliver it to `github`, `keyVault` or `file`, or pass --allow-stdout-secrets if the log is private (GitHub Actions masks it then)".into(),
                ))
            }
            SecretSink::Stdout => Ok(()),
        }
    }

    /// Delivers `value` to `sink`.
    pub async fn deliver(
        &self,
        sink: &SecretSink,
        delivery: &Delivery<'_>,
        value: &Secret,
    ) -> Result<(), SinkError> {
        match sink {
            SecretSink::File(path) => {
                let document = json!({
                    "tenantId": delivery.tenant_id,
                    "appId": delivery.app_id,
                    "clientSecret": value.expose(),
                    "keyId": delivery.key_id,
                    "expiry": delivery.expiry,
                    "created": delivery.created,
                    "earlierKeyIds": delivery.earlier,
                });
                let mut text = serde_json::to_vec_pretty(&document)
                    .map_err(|e| file_error(path, FileError::Io(e.into())))?;
                text.push(b'\n');
                let target = path.clone();
                tokio::task::spawn_blocking(move || files::write_private(&target, &text))
                    .await
                    .map_err(|e| file_error(path, FileError::Io(std::io::Error::other(e))))?
                    .map_err(|e| file_error(path, e))
            }
            SecretSink::KeyVault { vault, secret } => {
                let tags = BTreeMap::from([
                    ("keyId".to_string(), delivery.key_id.to_string()),
                    ("expiry".to_string(), delivery.expiry.to_rfc3339()),
                    ("appId".to_string(), delivery.app_id.to_string()),
                    ("tenantId".to_string(), delivery.tenant_id.to_string()),
                    ("managedBy".to_string(), "appreg".to_string()),
                    ("earlierKeyIds".to_string(), delivery.earlier.join(",")),
                ]);
                self.key_vault()?
                    .set(vault, secret, value, "client secret", &tags)
                    .await?;
                Ok(())
            }
            SecretSink::GithubOutput { output } => {
                self.deliver_github(output, delivery, value).await
            }
            SecretSink::Stdout => {
                if self.stdout_policy == StdoutPolicy::Refuse {
                    return Err(SinkError::Stdout("refused in CI".into()));
                }
                let line = json!({
                    "address": delivery.address,
                    "tenantId": delivery.tenant_id,
                    "appId": delivery.app_id,
                    "keyId": delivery.key_id,
                    "expiry": delivery.expiry,
                    "clientSecret": value.expose(),
                });
                let mut out = self
                    .stdout
                    .lock()
                    .map_err(|_| SinkError::Stdout("poisoned".into()))?;
                // The runner hides a masked value in every later log line, so the mask goes first.
                if self.stdout_policy == StdoutPolicy::MaskThenPrint {
                    writeln!(out, "::add-mask::{}", value.expose())
                        .map_err(|e| SinkError::Stdout(e.to_string()))?;
                }
                writeln!(out, "{line}")
                    .and_then(|_| out.flush())
                    .map_err(|e| SinkError::Stdout(e.to_string()))
            }
        }
    }

    fn key_vault(&self) -> Result<&KeyVaultClient, SinkError> {
        self.key_vault.as_ref().ok_or_else(|| {
            SinkError::KeyVault(super::keyvault::KeyVaultError {
                vault: "-".into(),
                secret: "-".into(),
                reason: "no Key Vault client was configured for this run".into(),
            })
        })
    }

    fn github_files(&self, output: &str) -> Result<&Path, SinkError> {
        self.github_output
            .as_deref()
            .ok_or_else(|| SinkError::Github {
                output: output.to_string(),
                reason: "$GITHUB_OUTPUT is not set: the `github` sink works inside a GitHub Actions step".into(),
            })
    }

    async fn deliver_github(
        &self,
        output: &str,
        delivery: &Delivery<'_>,
        value: &Secret,
    ) -> Result<(), SinkError> {
        let fail = |reason: String| SinkError::Github {
            output: output.to_string(),
            reason,
        };
        let file = self.github_files(output)?;
        // The mask must be registered before the value is anywhere the runner might print.
        {
            let mut out = self
                .stdout
                .lock()
                .map_err(|_| fail("stdout poisoned".into()))?;
            writeln!(out, "::add-mask::{}", value.expose())
                .and_then(|_| out.flush())
                .map_err(|e| fail(e.to_string()))?;
        }
        let delimiter = format!("appreg_{}", uuid::Uuid::new_v4().simple());
        append(
            file,
            format!("{output}<<{delimiter}\n{}\n{delimiter}\n", value.expose()),
        )
        .await
        .map_err(|e| fail(format!("cannot append to $GITHUB_OUTPUT: {e}")))?;
        if let Some(summary) = &self.step_summary {
            let line = format!(
                "- `{}`: new client secret in step output `{output}` (keyId `{}`, expires {})\n",
                delivery.address,
                delivery.key_id,
                delivery.expiry.format("%Y-%m-%d")
            );
            // The summary is informational: a failure to write it does not undo the delivery.
            if let Err(e) = append(summary, line).await {
                tracing::warn!("cannot write the step summary: {e}");
            }
        }
        Ok(())
    }
}

/// Appends `text` to the file at `path` (created when missing), off the async threads.
async fn append(path: &Path, text: String) -> std::io::Result<()> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)?;
        file.write_all(text.as_bytes())?;
        file.flush()
    })
    .await
    .map_err(std::io::Error::other)?
}

fn file_error(path: &crate::model::ManifestPath, error: FileError) -> SinkError {
    SinkError::File {
        path: path.resolved(),
        reason: error.to_string(),
    }
}

/// What a secret file holds: its keyId when the file is for this app of this tenant.
fn read_file(
    path: &crate::model::ManifestPath,
    tenant_id: &str,
    app_id: &str,
) -> Result<Holding, SinkError> {
    let bytes = match files::read(path, files::SECRET_FILE_MAX) {
        Ok(b) => b,
        Err(FileError::NotFound) => return Ok(Holding::Empty),
        Err(e) => return Err(file_error(path, e)),
    };
    let path = path.resolved();
    // The error never quotes the content: it holds a secret.
    let document: Value = serde_json::from_slice(&bytes).map_err(|_| SinkError::File {
        path: path.to_path_buf(),
        reason: "is not an appreg secret file (not JSON); move it away so appreg can deliver a new secret".into(),
    })?;
    let field = |k: &str| document.get(k).and_then(Value::as_str);
    let ours = field("appId").is_some_and(|a| a.eq_ignore_ascii_case(app_id))
        && field("tenantId").is_some_and(|t| t.eq_ignore_ascii_case(tenant_id));
    Ok(match field("keyId") {
        Some(key_id) if ours => Holding::Holds {
            key_id: key_id.to_lowercase(),
            delivered: field("created").and_then(|c| c.parse().ok()),
            earlier: document
                .get("earlierKeyIds")
                .and_then(Value::as_array)
                .map(|ids| {
                    ids.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_lowercase)
                        .collect()
                })
                .unwrap_or_default(),
        },
        _ => Holding::Empty,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery() -> Delivery<'static> {
        Delivery {
            address: "app.a.secret.s",
            tenant_id: "t",
            app_id: "app",
            key_id: "k1",
            expiry: "2027-01-01T00:00:00Z".parse().unwrap(),
            created: "2026-11-22T00:00:00Z".parse().unwrap(),
            earlier: &[],
        }
    }

    fn sinks(github: Option<PathBuf>) -> (Sinks, Arc<Mutex<Vec<u8>>>) {
        let captured = Arc::new(Mutex::new(Vec::new()));
        let stdout: Stdout = captured.clone();
        let sinks = Sinks {
            key_vault: None,
            github_output: github.clone(),
            step_summary: github.map(|g| g.with_extension("summary")),
            stdout,
            stdout_policy: StdoutPolicy::Print,
        };
        (sinks, captured)
    }

    #[tokio::test]
    async fn a_file_is_private_atomic_and_read_back_by_key_id() {
        let dir = tempfile::tempdir().unwrap();
        let sink = SecretSink::File(crate::model::ManifestPath {
            declared: "secrets/a.json".into(),
            base_dir: dir.path().to_path_buf(),
        });
        let (sinks, _) = sinks(None);
        assert_eq!(
            sinks.holding(&sink, "t", "app").await.unwrap(),
            Holding::Empty
        );
        sinks.preflight(&sink).unwrap();
        sinks
            .deliver(&sink, &delivery(), &Secret::new("value-1"))
            .await
            .unwrap();
        let path = dir.path().join("secrets/a.json");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let written: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(written["clientSecret"], "value-1");
        assert_eq!(written["keyId"], "k1");
        assert_eq!(
            sinks.holding(&sink, "t", "app").await.unwrap(),
            Holding::Holds {
                key_id: "k1".into(),
                delivered: Some(delivery().created),
                earlier: Vec::new(),
            }
        );
        // Another app's file holds nothing for this one.
        assert_eq!(
            sinks.holding(&sink, "t", "other").await.unwrap(),
            Holding::Empty
        );
        // Nothing but the file is left in the directory (no temporary files).
        let names: Vec<_> = std::fs::read_dir(dir.path().join("secrets"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.json")]);
    }

    #[tokio::test]
    async fn a_corrupt_file_is_an_error_that_does_not_quote_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.json"), "clientSecret=hunter2").unwrap();
        let sink = SecretSink::File(crate::model::ManifestPath {
            declared: "a.json".into(),
            base_dir: dir.path().to_path_buf(),
        });
        let error = sinks(None).0.holding(&sink, "t", "app").await.unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[tokio::test]
    async fn github_masks_before_writing_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("output");
        let (sinks, captured) = sinks(Some(output.clone()));
        let sink = SecretSink::GithubOutput {
            output: "client_secret".into(),
        };
        sinks
            .deliver(&sink, &delivery(), &Secret::new("s3cr3t"))
            .await
            .unwrap();
        let stdout = String::from_utf8(captured.lock().unwrap().clone()).unwrap();
        assert_eq!(stdout, "::add-mask::s3cr3t\n");
        let written = std::fs::read_to_string(&output).unwrap();
        let mut lines = written.lines();
        let opening = lines.next().unwrap();
        let delimiter = opening.strip_prefix("client_secret<<").unwrap();
        assert_eq!(lines.next(), Some("s3cr3t"));
        assert_eq!(lines.next(), Some(delimiter));
        let summary = std::fs::read_to_string(output.with_extension("summary")).unwrap();
        assert!(
            summary.contains("k1") && !summary.contains("s3cr3t"),
            "{summary}"
        );
    }

    #[tokio::test]
    async fn stdout_in_ci_is_refused_unless_allowed_and_masked_under_github() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        // Each case: environment, --allow-stdout-secrets, policy, why.
        type Pairs = &'static [(&'static str, &'static str)];
        let cases: [(Pairs, bool, StdoutPolicy, &str); 5] = [
            (&[], false, StdoutPolicy::Print, "a laptop"),
            (&[("CI", "true")], false, StdoutPolicy::Refuse, "any CI"),
            (
                &[("GITHUB_ACTIONS", "true")],
                false,
                StdoutPolicy::Refuse,
                "GitHub Actions",
            ),
            (
                &[("CI", "true")],
                true,
                StdoutPolicy::Print,
                "allowed elsewhere: no mask to use",
            ),
            (
                &[("GITHUB_ACTIONS", "true")],
                true,
                StdoutPolicy::MaskThenPrint,
                "allowed: masked",
            ),
        ];
        for (pairs, allowed, policy, why) in cases {
            assert_eq!(
                StdoutPolicy::from_env(&env(pairs), allowed),
                policy,
                "{why}"
            );
        }
        let (mut sinks, captured) = sinks(None);
        sinks.stdout_policy = StdoutPolicy::Refuse;
        let error = sinks.preflight(&SecretSink::Stdout).unwrap_err();
        assert!(
            error.to_string().contains("--allow-stdout-secrets"),
            "{error}"
        );
        assert!(
            sinks
                .deliver(&SecretSink::Stdout, &delivery(), &Secret::new("s3cr3t"))
                .await
                .is_err()
        );
        sinks.stdout_policy = StdoutPolicy::MaskThenPrint;
        sinks
            .deliver(&SecretSink::Stdout, &delivery(), &Secret::new("s3cr3t"))
            .await
            .unwrap();
        let stdout = String::from_utf8(captured.lock().unwrap().clone()).unwrap();
        assert!(stdout.starts_with("::add-mask::s3cr3t\n{"), "{stdout}");
    }

    #[test]
    fn github_outside_actions_fails_the_preflight() {
        let sink = SecretSink::GithubOutput { output: "x".into() };
        let error = sinks(None).0.preflight(&sink).unwrap_err();
        assert!(error.to_string().contains("GITHUB_OUTPUT"), "{error}");
    }
}
