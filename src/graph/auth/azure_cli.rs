//! The Azure CLI's token: `az account get-access-token`, for people who already ran `az login`.
//!
//! The CLI's standard output holds the token, so it is parsed and never shown; its standard error
//! (which holds no token) is quoted, first line only, when it fails for a reason other than "not
//! logged in".

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;

use super::{AccessToken, AuthError, AuthMethod, BoxFuture, Scope, TokenSource};
use crate::graph::cloud::Endpoints;
use crate::graph::secret::Secret;

/// Runs the Azure CLI for each token.
pub struct AzureCliCredential {
    program: PathBuf,
    tenant: Option<String>,
    endpoints: Endpoints,
    timeout: Duration,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CliToken {
    access_token: Secret,
    /// Seconds since the epoch; CLI 2.54 and later.
    #[serde(rename = "expires_on")]
    expires_on_unix: Option<i64>,
    /// Local time `2024-01-31 12:00:00.000000`; every CLI version.
    expires_on: Option<String>,
}

impl AzureCliCredential {
    /// `program` is normally `az`; `tenant` adds `--tenant`.
    pub fn new(
        program: PathBuf,
        tenant: Option<String>,
        endpoints: &Endpoints,
        timeout: Duration,
    ) -> Self {
        AzureCliCredential {
            program,
            tenant,
            endpoints: endpoints.clone(),
            timeout,
        }
    }
}

fn parse_local_time(text: &str) -> Option<i64> {
    let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok()?;
    naive
        .and_local_timezone(chrono::Local)
        .earliest()
        .map(|t| t.timestamp())
}

impl TokenSource for AzureCliCredential {
    fn token<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, Result<AccessToken, AuthError>> {
        Box::pin(async move {
            let method = AuthMethod::AzureCli;
            let mut command = tokio::process::Command::new(&self.program);
            command
                .args(["account", "get-access-token", "--output", "json", "--scope"])
                .arg(self.endpoints.scope_string(*scope))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            if let Some(tenant) = &self.tenant {
                command.args(["--tenant", tenant]);
            }
            let program = self.program.display().to_string();
            let child = command.spawn().map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    AuthError::unavailable(method, format!("`{program}` was not found"))
                } else {
                    AuthError::failed(method, format!("cannot run `{program}`: {e}"))
                }
            })?;
            let output = tokio::time::timeout(self.timeout, child.wait_with_output())
                .await
                .map_err(|_| {
                    AuthError::failed(
                        method,
                        format!(
                            "`{program} account get-access-token` did not finish within {:?}",
                            self.timeout
                        ),
                    )
                })?
                .map_err(|e| AuthError::failed(method, format!("`{program}` failed: {e}")))?;
            if !output.status.success() {
                let stderr = String::from_utf8_lossy(&output.stderr);
                if stderr.contains("az login") || stderr.contains("not logged in") {
                    return Err(AuthError::unavailable(
                        method,
                        "the Azure CLI is not logged in",
                    ));
                }
                let first = stderr
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("no message");
                return Err(AuthError::failed(
                    method,
                    format!(
                        "`{program} account get-access-token` failed: {}",
                        first.trim()
                    ),
                ));
            }
            let parsed: CliToken = serde_json::from_slice(&output.stdout).map_err(|_| {
                AuthError::failed(
                    method,
                    format!("`{program} account get-access-token` printed no token"),
                )
            })?;
            let expires = parsed
                .expires_on_unix
                .or_else(|| parsed.expires_on.as_deref().and_then(parse_local_time));
            Ok(match expires {
                Some(on) => AccessToken::expiring_at_unix(parsed.access_token, on),
                None => AccessToken::new(parsed.access_token, None),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_expiry_formats() {
        let new: CliToken = serde_json::from_str(
            r#"{"accessToken":"t","expiresOn":"2030-01-01 00:00:00.000000","expires_on":1893456000,"tokenType":"Bearer"}"#,
        )
        .unwrap();
        assert_eq!(new.expires_on_unix, Some(1893456000));
        let old: CliToken =
            serde_json::from_str(r#"{"accessToken":"t","expiresOn":"2030-01-01 00:00:00.000000"}"#)
                .unwrap();
        assert!(old.expires_on_unix.is_none());
        assert!(parse_local_time(old.expires_on.as_deref().unwrap()).is_some());
    }
}
