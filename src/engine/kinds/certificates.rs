//! Certificates: public certificate files as the application's keyCredentials, one per declared
//! name (the keyCredential's displayName), compared by thumbprint and expiry.
//!
//! Graph sets keyCredentials only as a whole collection (addKey needs a proof signed by a private
//! key appreg never reads), so every certificate write of an app is the same PATCH: the declared
//! certificates, reusing the live entry of each one whose thumbprint is unchanged, plus the
//! certificates the manifest does not name, which stay unless pruning. Repeating it is harmless,
//! and apply sends identical writes once.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{AppContext, Instance, Phase, Requires, ResourceKind, Write, WriteError};
use crate::credentials::CertificateFile;
use crate::credentials::certificate::live_thumbprint;
use crate::engine::fields::Fields;
use crate::engine::observed::str_of;
use crate::engine::plan::{Notice, ResourceType};
use crate::graph::Request;
use crate::model::IgnoredField;

/// How close to expiry a certificate is reported: appreg cannot renew one (it has no private
/// key), so a person needs the warning early.
pub const WARNING_DAYS: i64 = 30;

fn address(ctx: &AppContext, name: &str) -> super::Address {
    ctx.address(&format!("certificate.{name}"))
}

fn fields(thumbprint: Option<String>, expires: Option<String>) -> Fields {
    let mut f = Fields::new();
    f.insert("thumbprint".into(), json!(thumbprint));
    f.insert("endDateTime".into(), json!(expires));
    f
}

/// A timestamp as whole seconds in UTC, however Graph or the certificate wrote it.
fn instant(text: Option<&str>) -> Option<String> {
    let t: chrono::DateTime<chrono::Utc> = text?.parse().ok()?;
    Some(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// The app's live keyCredentials, with keys when observation read them.
pub fn live_keys<'a>(ctx: &'a AppContext) -> Vec<&'a Value> {
    if !ctx.live.key_credentials.is_empty() {
        return ctx.live.key_credentials.iter().collect();
    }
    ctx.live
        .application
        .as_ref()
        .and_then(|a| a.get("keyCredentials"))
        .and_then(Value::as_array)
        .map(|k| k.iter().collect())
        .unwrap_or_default()
}

fn declared(ctx: &AppContext, credential: &Value) -> bool {
    str_of(credential, "displayName")
        .is_some_and(|n| ctx.app.certificates.iter().any(|c| c.name == n))
}

/// Live keyCredentials the manifest does not name.
pub fn undeclared<'a>(ctx: &'a AppContext) -> Vec<&'a Value> {
    live_keys(ctx)
        .into_iter()
        .filter(|k| !declared(ctx, k))
        .collect()
}

/// The keyCredentials collection the app should have.
fn collection(ctx: &AppContext) -> Result<Vec<Value>, WriteError> {
    let live = live_keys(ctx);
    let mut out = Vec::new();
    for spec in &ctx.app.certificates {
        let path = spec.file.resolved();
        let file = match ctx.observed.certificate_files.get(&path) {
            Some(Ok(file)) => file,
            Some(Err(e)) => return Err(WriteError::Certificate(e.clone())),
            None => {
                return Err(WriteError::Certificate(format!(
                    "`{}` was not read",
                    path.display()
                )));
            }
        };
        let same = live.iter().find(|k| {
            str_of(k, "displayName") == Some(spec.name.as_str())
                && live_thumbprint(k).as_deref() == Some(file.thumbprint.as_str())
                && k.get("key").is_some_and(Value::is_string)
        });
        out.push(match same {
            Some(kept) => (*kept).clone(),
            None => file.key_credential(&spec.name),
        });
    }
    if !ctx.observed.prune {
        for other in undeclared(ctx) {
            if other.get("key").is_none_or(Value::is_null) {
                return Err(WriteError::Certificate(format!(
                    "the key of certificate `{}` was not read; it cannot be kept",
                    str_of(other, "keyId").unwrap_or("?")
                )));
            }
            out.push(other.clone());
        }
    }
    Ok(out)
}

pub struct Certificates;

impl Certificates {
    fn patch(ctx: &AppContext, write: &Write) -> Result<Request, WriteError> {
        let body = json!({ "keyCredentials": collection(ctx)? });
        Ok(write.fresh(Request::patch(
            format!("/applications/{}", write.object_id()?),
            body,
        )))
    }
}

impl ResourceKind for Certificates {
    fn resource(&self) -> ResourceType {
        ResourceType::Certificate
    }

    fn phase(&self) -> Phase {
        Phase::SubObject
    }

    fn requires(&self) -> Requires {
        Requires::Application
    }

    fn desired(&self, ctx: &AppContext) -> Vec<Instance> {
        if ctx.ignores(IgnoredField::Certificates) {
            return Vec::new();
        }
        ctx.app
            .certificates
            .iter()
            .filter_map(|spec| {
                let file = ctx
                    .observed
                    .certificate_files
                    .get(&spec.file.resolved())?
                    .as_ref()
                    .ok()?;
                let end = file
                    .not_after
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                Some(Instance::new(
                    address(ctx, &spec.name),
                    ResourceType::Certificate,
                    fields(Some(file.thumbprint.clone()), Some(end)),
                ))
            })
            .collect()
    }

    fn live(&self, ctx: &AppContext) -> Vec<Instance> {
        if ctx.ignores(IgnoredField::Certificates) {
            return Vec::new();
        }
        live_keys(ctx)
            .into_iter()
            // What the manifest does not name is only reported, unless pruning.
            .filter(|k| ctx.observed.prune || declared(ctx, k))
            .map(|k| {
                let name = str_of(k, "displayName")
                    .or_else(|| str_of(k, "keyId"))
                    .unwrap_or("?");
                Instance::new(
                    address(ctx, name),
                    ResourceType::Certificate,
                    fields(live_thumbprint(k), instant(str_of(k, "endDateTime"))),
                )
                .observed(k)
            })
            .collect()
    }

    /// A certificate with another thumbprint is a new keyCredential in place of the old.
    fn replaces(&self) -> Option<&'static str> {
        Some("the certificate file changed")
    }

    /// Certificate files that cannot be read stop the plan; certificates near expiry and ones the
    /// manifest does not name are reported.
    fn check(
        &self,
        ctx: &AppContext,
        now: DateTime<Utc>,
        notices: &mut Vec<Notice>,
        problems: &mut Vec<super::Problem>,
    ) {
        for spec in &ctx.app.certificates {
            let address = address(ctx, &spec.name);
            match ctx.observed.certificate_files.get(&spec.file.resolved()) {
                Some(Err(e)) => problems.push(super::Problem::new(
                    address,
                    super::Cause::Credential,
                    e.to_string(),
                )),
                Some(Ok(file)) if (file.not_after - now).num_days() < WARNING_DAYS => {
                    notices.push(Notice {
                        address,
                        message: format!(
                            "certificate expires {} ({}); renew it and replace `{}`",
                            file.not_after.format("%Y-%m-%d"),
                            crate::credentials::days_left(file.not_after, now),
                            spec.file.declared
                        ),
                    })
                }
                _ => {}
            }
        }
        if !ctx.observed.prune && !ctx.ignores(IgnoredField::Certificates) {
            for other in undeclared(ctx) {
                let name = str_of(other, "displayName")
                    .or_else(|| str_of(other, "keyId"))
                    .unwrap_or("?");
                notices.push(Notice {
                    address: address(ctx, name),
                    message: "certificate not in the manifest (kept; --prune removes it)".into(),
                });
            }
        }
    }

    fn create(&self, ctx: &AppContext, write: &Write) -> Result<Request, WriteError> {
        Self::patch(ctx, write)
    }

    fn update(&self, ctx: &AppContext, write: &Write) -> Result<Request, WriteError> {
        Self::patch(ctx, write)
    }

    fn delete(&self, ctx: &AppContext, write: &Write) -> Result<Request, WriteError> {
        Self::patch(ctx, write)
    }

    /// Each X.509 keyCredential by its displayName, its public part written to a PEM file
    /// beside the manifest (never a private key: Graph holds none).
    fn inverse(
        &self,
        from: &super::Adopted,
        app: &mut crate::model::DesiredApp,
        out: &mut super::Inverse,
    ) {
        let keys: Vec<&Value> = if from.live.key_credentials.is_empty() {
            from.live
                .application
                .as_ref()
                .and_then(|a| a.get("keyCredentials"))
                .and_then(Value::as_array)
                .map(|k| k.iter().collect())
                .unwrap_or_default()
        } else {
            from.live.key_credentials.iter().collect()
        };
        let mut names = std::collections::BTreeSet::new();
        for key in keys {
            let key_id = str_of(key, "keyId").unwrap_or("?");
            let name = str_of(key, "displayName").filter(|n| !n.trim().is_empty());
            let der = str_of(key, "key").and_then(|k| {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.decode(k).ok()
            });
            let file = der.as_deref().and_then(|d| CertificateFile::parse(d).ok());
            let (Some(name), Some(der), Some(file)) = (name, der, file) else {
                out.unrepresented.push(format!(
                    "key credential {key_id} ({}): only X.509 certificates with a displayName can be declared; it stays as it is (not in the manifest)",
                    str_of(key, "type").unwrap_or("unknown type")
                ));
                continue;
            };
            if !names.insert(name.to_string()) {
                out.unrepresented.push(format!(
                    "key credential {key_id}: another certificate of the app is named `{name}` too; it stays as it is (not in the manifest)"
                ));
                continue;
            }
            let live_end = instant(str_of(key, "endDateTime"));
            let file_end = file
                .not_after
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            if live_end.as_deref() != Some(file_end.as_str()) {
                out.unrepresented.push(format!(
                    "certificate `{name}`: its keyCredential ends {} but the certificate {}; the first apply writes the certificate's own dates",
                    live_end.unwrap_or_default(),
                    file_end
                ));
            }
            let path = format!(
                "{}.{}.pem",
                from.key,
                crate::manifest::emit::slug(name, "certificate")
            );
            out.files.push((path.clone(), pem(&der)));
            app.certificates.push(crate::model::CertificateSpec {
                name: name.to_string(),
                file: crate::model::ManifestPath {
                    declared: path,
                    base_dir: Default::default(),
                },
            });
        }
    }
}

/// A DER certificate as PEM text.
fn pem(der: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}
