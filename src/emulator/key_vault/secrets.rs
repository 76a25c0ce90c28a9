//! Key Vault secrets as the data plane keeps them: per vault, named secrets with their versions in
//! creation order, and soft-deleted secrets waiting to be recovered or purged.
//!
//! Operations here are plain functions over the store (no HTTP), each answering the JSON Key Vault
//! sends or its refusal, so the HTTP layer only routes, authenticates and logs.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::error::VaultError;
use crate::emulator::ids;

/// Longest secret value Key Vault stores (25 KB).
pub const MAX_VALUE_BYTES: usize = 25 * 1024;
pub const MAX_TAGS: usize = 15;
pub const MAX_TAG_NAME_CHARS: usize = 512;
pub const MAX_TAG_VALUE_CHARS: usize = 256;
pub const MAX_NAME_CHARS: usize = 127;
/// Page size of version lists when `maxresults` is not given, and its largest value.
pub const MAX_RESULTS: usize = 25;
/// Soft-delete retention the sandbox's vaults are configured with.
const RECOVERABLE_DAYS: i64 = 90;
const RECOVERY_LEVEL: &str = "Recoverable+Purgeable";

/// Every vault the sandbox holds, by host name (`contoso-kv.vault.azure.net`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyVaults {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_host: BTreeMap<String, Vault>,
    /// Versions handed out so far; with the tenant id it derives the next version id, so a
    /// sandbox with the same seed hands out the same versions.
    #[serde(default)]
    pub versions_issued: u64,
}

impl KeyVaults {
    pub fn is_empty(&self) -> bool {
        self.by_host.is_empty() && self.versions_issued == 0
    }

    /// The current version of a live secret as a bundle with its value (for tests' eyes).
    pub fn current(&self, host: &str, name: &str) -> Option<Value> {
        let secret = self.by_host.get(host)?.secrets.get(&name.to_lowercase())?;
        Some(bundle(host, &secret.name, secret.versions.last()?, true))
    }
}

/// One vault. Secret names are case-insensitive, so both maps are keyed by the lowercased name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Vault {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, Secret>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub deleted: BTreeMap<String, DeletedSecret>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// The name as first set (ids keep its case).
    pub name: String,
    /// Oldest first; the last one is the current version.
    pub versions: Vec<SecretVersion>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretVersion {
    /// 32 lowercase hex digits.
    pub version: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<i64>,
    /// Unix seconds.
    pub created: i64,
    pub updated: i64,
}

impl std::fmt::Debug for SecretVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretVersion")
            .field("version", &self.version)
            .field("value", &"<redacted>")
            .field("content_type", &self.content_type)
            .field("tags", &self.tags)
            .field("enabled", &self.enabled)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedSecret {
    pub secret: Secret,
    /// Unix seconds.
    pub deleted: i64,
}

/// A successful answer: status and JSON body (none for 204).
pub type Answer = (StatusCode, Option<Value>);

/// Which vault and when: what every operation needs besides its arguments.
pub struct Scope<'a> {
    pub vaults: &'a mut KeyVaults,
    /// Lowercase host without port; ids are `https://{host}/secrets/...`.
    pub host: &'a str,
    pub tenant_id: Uuid,
    pub now_secs: i64,
}

/// Secret names: 1 to 127 letters, digits and dashes.
pub fn check_name(name: &str) -> Result<(), VaultError> {
    let valid = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(VaultError::bad_parameter(format!(
            "The request URI contains an invalid name: {name}"
        )))
    }
}

impl Scope<'_> {
    fn vault(&self) -> Option<&Vault> {
        self.vaults.by_host.get(self.host)
    }

    fn secret(&self, name: &str) -> Option<&Secret> {
        self.vault()?.secrets.get(&name.to_lowercase())
    }

    fn next_version(&mut self) -> String {
        self.vaults.versions_issued += 1;
        ids::derive(&[
            b"key-vault-version",
            self.tenant_id.as_bytes(),
            &self.vaults.versions_issued.to_le_bytes(),
        ])
        .simple()
        .to_string()
    }

    /// `PUT /secrets/{name}`: a new current version.
    pub fn set(&mut self, name: &str, body: Option<&Value>) -> Result<Answer, VaultError> {
        check_name(name)?;
        let request = SetRequest::parse(body)?;
        let key = name.to_lowercase();
        if self
            .vault()
            .is_some_and(|vault| vault.deleted.contains_key(&key))
        {
            return Err(VaultError::new(
                StatusCode::CONFLICT,
                "Conflict",
                format!(
                    "Secret {name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged."
                ),
            )
            .with_inner("ObjectIsDeletedButRecoverable"));
        }
        let version = SecretVersion {
            version: self.next_version(),
            value: request.value,
            content_type: request.content_type,
            tags: request.tags,
            enabled: request.enabled.unwrap_or(true),
            not_before: request.not_before,
            expires: request.expires,
            created: self.now_secs,
            updated: self.now_secs,
        };
        let vault = self
            .vaults
            .by_host
            .entry(self.host.to_string())
            .or_default();
        let secret = vault.secrets.entry(key).or_insert_with(|| Secret {
            name: name.to_string(),
            versions: Vec::new(),
        });
        secret.versions.push(version);
        let secret = secret.clone();
        let current = secret.versions.last().expect("just pushed");
        Ok((
            StatusCode::OK,
            Some(bundle(self.host, &secret.name, current, true)),
        ))
    }

    /// `GET /secrets/{name}[/{version}]`.
    pub fn get(&self, name: &str, version: Option<&str>) -> Result<Answer, VaultError> {
        check_name(name)?;
        let secret = self
            .secret(name)
            .ok_or_else(|| VaultError::secret_not_found(name))?;
        let found = match version {
            None => secret.versions.last(),
            Some(wanted) => secret
                .versions
                .iter()
                .find(|v| v.version.eq_ignore_ascii_case(wanted)),
        };
        let found = found.ok_or_else(|| {
            VaultError::secret_not_found(&format!("{name}/{}", version.unwrap_or_default()))
        })?;
        if !found.enabled {
            return Err(VaultError::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "Operation get is not allowed on a disabled secret.",
            )
            .with_inner("SecretDisabled"));
        }
        Ok((
            StatusCode::OK,
            Some(bundle(self.host, &secret.name, found, true)),
        ))
    }

    /// `GET /secrets/{name}/versions`: items without values, `maxresults` per page.
    pub fn versions(
        &self,
        name: &str,
        page: &Page,
        api_version: &str,
    ) -> Result<Answer, VaultError> {
        check_name(name)?;
        let secret = self
            .secret(name)
            .ok_or_else(|| VaultError::secret_not_found(name))?;
        let end = (page.start + page.size).min(secret.versions.len());
        let value: Vec<Value> = secret
            .versions
            .get(page.start.min(end)..end)
            .unwrap_or_default()
            .iter()
            .map(|v| item(self.host, &secret.name, v))
            .collect();
        let next = (end < secret.versions.len()).then(|| {
            format!(
                "https://{}/secrets/{}/versions?api-version={api_version}&$skiptoken={}&maxresults={}",
                self.host,
                secret.name,
                Page::token(end),
                page.size
            )
        });
        Ok((
            StatusCode::OK,
            Some(json!({"value": value, "nextLink": next})),
        ))
    }

    /// `DELETE /secrets/{name}`: every version moves to the deleted secrets.
    pub fn delete(&mut self, name: &str) -> Result<Answer, VaultError> {
        check_name(name)?;
        let key = name.to_lowercase();
        let vault = self
            .vaults
            .by_host
            .get_mut(self.host)
            .ok_or_else(|| VaultError::secret_not_found(name))?;
        let secret = vault
            .secrets
            .remove(&key)
            .ok_or_else(|| VaultError::secret_not_found(name))?;
        let deleted = DeletedSecret {
            secret,
            deleted: self.now_secs,
        };
        let answer = deleted_bundle(self.host, &deleted);
        vault.deleted.insert(key, deleted);
        Ok((StatusCode::OK, Some(answer)))
    }

    /// `GET /deletedsecrets/{name}`.
    pub fn get_deleted(&self, name: &str) -> Result<Answer, VaultError> {
        check_name(name)?;
        let deleted = self
            .vault()
            .and_then(|vault| vault.deleted.get(&name.to_lowercase()))
            .ok_or_else(|| VaultError::deleted_not_found(name))?;
        Ok((StatusCode::OK, Some(deleted_bundle(self.host, deleted))))
    }

    /// `DELETE /deletedsecrets/{name}`: gone for good.
    pub fn purge(&mut self, name: &str) -> Result<Answer, VaultError> {
        check_name(name)?;
        self.vaults
            .by_host
            .get_mut(self.host)
            .and_then(|vault| vault.deleted.remove(&name.to_lowercase()))
            .ok_or_else(|| VaultError::deleted_not_found(name))?;
        Ok((StatusCode::NO_CONTENT, None))
    }

    /// `POST /deletedsecrets/{name}/recover`: the secret and its versions come back.
    pub fn recover(&mut self, name: &str) -> Result<Answer, VaultError> {
        check_name(name)?;
        let key = name.to_lowercase();
        let vault = self
            .vaults
            .by_host
            .get_mut(self.host)
            .ok_or_else(|| VaultError::deleted_not_found(name))?;
        let deleted = vault
            .deleted
            .remove(&key)
            .ok_or_else(|| VaultError::deleted_not_found(name))?;
        let secret = deleted.secret;
        let current = secret.versions.last().cloned();
        let answer = current.map(|v| bundle(self.host, &secret.name, &v, false));
        vault.secrets.insert(key, secret);
        Ok((StatusCode::OK, answer))
    }
}

/// The body of a set request, checked against Key Vault's limits.
struct SetRequest {
    value: String,
    content_type: Option<String>,
    tags: Option<BTreeMap<String, String>>,
    enabled: Option<bool>,
    not_before: Option<i64>,
    expires: Option<i64>,
}

impl SetRequest {
    fn parse(body: Option<&Value>) -> Result<SetRequest, VaultError> {
        let Some(Value::Object(body)) = body else {
            // UNCONFIRMED: Key Vault's wording for a missing or non-object body.
            return Err(VaultError::bad_parameter(
                "The request body is missing or is not a JSON object.",
            ));
        };
        let invalid = || VaultError::bad_parameter("Property has invalid value\r\n");
        let value = match body.get("value") {
            Some(Value::String(value)) => value.clone(),
            // UNCONFIRMED: wording when `value` is missing.
            None | Some(Value::Null) => {
                return Err(VaultError::bad_parameter("Property value is required."));
            }
            Some(_) => return Err(invalid()),
        };
        // UNCONFIRMED: an oversized value is refused like other invalid properties.
        if value.len() > MAX_VALUE_BYTES {
            return Err(invalid());
        }
        let content_type = match body.get("contentType") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(_) => return Err(invalid()),
        };
        let tags = match body.get("tags") {
            None | Some(Value::Null) => None,
            Some(Value::Object(tags)) => Some(parse_tags(tags).ok_or_else(invalid)?),
            Some(_) => return Err(invalid()),
        };
        let attributes = match body.get("attributes") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(attributes)) => attributes.clone(),
            Some(_) => return Err(invalid()),
        };
        let time = |name: &str| match attributes.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value.as_i64().map(Some).ok_or_else(invalid),
        };
        let enabled = match attributes.get("enabled") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(enabled)) => Some(*enabled),
            Some(_) => return Err(invalid()),
        };
        Ok(SetRequest {
            value,
            content_type,
            tags,
            enabled,
            not_before: time("nbf")?,
            expires: time("exp")?,
        })
    }
}

fn parse_tags(tags: &Map<String, Value>) -> Option<BTreeMap<String, String>> {
    if tags.len() > MAX_TAGS {
        return None;
    }
    tags.iter()
        .map(|(name, value)| {
            let value = value.as_str()?;
            (name.chars().count() <= MAX_TAG_NAME_CHARS
                && value.chars().count() <= MAX_TAG_VALUE_CHARS)
                .then(|| (name.clone(), value.to_string()))
        })
        .collect()
}

/// Where a version list page starts and how long it is.
pub struct Page {
    pub start: usize,
    pub size: usize,
}

impl Page {
    /// Reads `maxresults` (1..=25) and the `$skiptoken` this sandbox hands out.
    pub fn parse(max_results: Option<&str>, skip_token: Option<&str>) -> Result<Page, VaultError> {
        let size = match max_results {
            None => MAX_RESULTS,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_RESULTS).contains(n))
                .ok_or_else(|| {
                    // UNCONFIRMED: Key Vault's wording for an out-of-range maxresults.
                    VaultError::bad_parameter(format!(
                        "maxresults must be between 1 and {MAX_RESULTS}; it was {text}."
                    ))
                })?,
        };
        let start = match skip_token {
            None => 0,
            Some(token) => token
                .strip_prefix("offset-")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| VaultError::bad_parameter("The skip token is not valid."))?,
        };
        Ok(Page { start, size })
    }

    fn token(offset: usize) -> String {
        format!("offset-{offset}")
    }
}

fn attributes(version: &SecretVersion) -> Value {
    let mut attributes = json!({
        "enabled": version.enabled,
        "created": version.created,
        "updated": version.updated,
        "recoveryLevel": RECOVERY_LEVEL,
        "recoverableDays": RECOVERABLE_DAYS,
    });
    if let Some(nbf) = version.not_before {
        attributes["nbf"] = json!(nbf);
    }
    if let Some(exp) = version.expires {
        attributes["exp"] = json!(exp);
    }
    attributes
}

/// What every shape of a secret shares: id, attributes and the optional content type and tags
/// (Key Vault leaves unset ones out).
fn common(host: &str, name: &str, version: &SecretVersion) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert(
        "id".into(),
        json!(format!("https://{host}/secrets/{name}/{}", version.version)),
    );
    object.insert("attributes".into(), attributes(version));
    if let Some(content_type) = &version.content_type {
        object.insert("contentType".into(), json!(content_type));
    }
    if let Some(tags) = &version.tags {
        object.insert("tags".into(), json!(tags));
    }
    object
}

/// A SecretBundle; `with_value` is false only where Key Vault answers without the value (recover).
pub fn bundle(host: &str, name: &str, version: &SecretVersion, with_value: bool) -> Value {
    let mut object = common(host, name, version);
    if with_value {
        object.insert("value".into(), json!(version.value));
    }
    Value::Object(object)
}

/// A SecretItem of a version list.
fn item(host: &str, name: &str, version: &SecretVersion) -> Value {
    Value::Object(common(host, name, version))
}

/// A DeletedSecretBundle: the current version without its value, and the recovery details.
fn deleted_bundle(host: &str, deleted: &DeletedSecret) -> Value {
    let secret = &deleted.secret;
    let mut object = secret
        .versions
        .last()
        .map(|v| common(host, &secret.name, v))
        .unwrap_or_default();
    object.insert(
        "recoveryId".into(),
        json!(format!("https://{host}/deletedsecrets/{}", secret.name)),
    );
    object.insert("deletedDate".into(), json!(deleted.deleted));
    object.insert(
        "scheduledPurgeDate".into(),
        json!(deleted.deleted + RECOVERABLE_DAYS * 86_400),
    );
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope<'a>(vaults: &'a mut KeyVaults, host: &'a str) -> Scope<'a> {
        Scope {
            vaults,
            host,
            tenant_id: Uuid::nil(),
            now_secs: 1_700_000_000,
        }
    }

    #[test]
    fn names_follow_key_vault_rules() {
        let cases = [
            ("odoo-fetchmail", true),
            ("A1-b2", true),
            // Underscores and dots are the usual mistakes.
            ("odoo_fetchmail", false),
            ("odoo.fetchmail", false),
            ("", false),
            (&"x".repeat(127), true),
            (&"x".repeat(128), false),
        ];
        for (name, ok) in cases {
            assert_eq!(check_name(name).is_ok(), ok, "{name:?}");
        }
    }

    #[test]
    fn each_set_is_a_new_version_and_names_ignore_case() {
        let mut vaults = KeyVaults::default();
        let mut vault = scope(&mut vaults, "contoso-kv.vault.azure.net");
        let first = vault
            .set("Odoo", Some(&json!({"value": "one"})))
            .unwrap()
            .1
            .unwrap();
        let second = vault
            .set("odoo", Some(&json!({"value": "two"})))
            .unwrap()
            .1
            .unwrap();
        assert_ne!(first["id"], second["id"]);
        let id = second["id"].as_str().unwrap();
        let version = id.rsplit('/').next().unwrap();
        assert_eq!(version.len(), 32);
        assert!(
            version
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert!(id.starts_with("https://contoso-kv.vault.azure.net/secrets/Odoo/"));
        let latest = vault.get("ODOO", None).unwrap().1.unwrap();
        assert_eq!(latest["value"], "two");
        let old = first["id"].as_str().unwrap().rsplit('/').next().unwrap();
        assert_eq!(
            vault.get("odoo", Some(old)).unwrap().1.unwrap()["value"],
            "one"
        );
    }

    #[test]
    fn limits_are_refused_as_bad_parameters() {
        let mut vaults = KeyVaults::default();
        let mut vault = scope(&mut vaults, "v.vault.azure.net");
        let too_many: Map<String, Value> = (0..16).map(|i| (format!("t{i}"), json!("x"))).collect();
        let cases = [
            // The value limit is 25 KB.
            json!({"value": "x".repeat(MAX_VALUE_BYTES + 1)}),
            // At most 15 tags, values of at most 256 characters, strings only.
            json!({"value": "x", "tags": too_many}),
            json!({"value": "x", "tags": {"k": "v".repeat(257)}}),
            json!({"value": "x", "tags": {"k": 1}}),
            json!({"contentType": "text/plain"}),
        ];
        for body in cases {
            let error = vault.set("s", Some(&body)).unwrap_err();
            assert_eq!(
                (error.status, error.code.as_str()),
                (StatusCode::BAD_REQUEST, "BadParameter")
            );
        }
        assert!(
            vault
                .set("s", Some(&json!({"value": "x".repeat(MAX_VALUE_BYTES)})))
                .is_ok()
        );
        let fifteen: Map<String, Value> = (0..15).map(|i| (format!("t{i}"), json!("x"))).collect();
        assert!(
            vault
                .set("s", Some(&json!({"value": "x", "tags": fifteen})))
                .is_ok()
        );
    }

    #[test]
    fn deleted_names_are_held_until_purged_or_recovered() {
        let mut vaults = KeyVaults::default();
        let mut vault = scope(&mut vaults, "v.vault.azure.net");
        vault.set("s", Some(&json!({"value": "one"}))).unwrap();
        vault.delete("s").unwrap();
        assert_eq!(
            vault.get("s", None).unwrap_err().status,
            StatusCode::NOT_FOUND
        );
        let conflict = vault.set("s", Some(&json!({"value": "two"}))).unwrap_err();
        assert_eq!(conflict.status, StatusCode::CONFLICT);
        vault.recover("s").unwrap();
        assert_eq!(vault.get("s", None).unwrap().1.unwrap()["value"], "one");
        vault.delete("s").unwrap();
        assert_eq!(vault.purge("s").unwrap().0, StatusCode::NO_CONTENT);
        assert!(vault.set("s", Some(&json!({"value": "two"}))).is_ok());
    }
}
