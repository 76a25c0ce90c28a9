//! Credentials of applications and service principals: addPassword/removePassword,
//! addKey/removeKey (proof of possession signed by a certificate already on the object),
//! certificate keyCredentials set by PATCH, and federatedIdentityCredentials (a contained
//! collection with `name` as alternate key).

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use rand::RngExt;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Call, Ctx, Reply, Seg, require_method, validate};
use crate::emulator::cert;
use crate::emulator::error::{GraphError, GraphResult};
use crate::emulator::store::Kind;
use crate::emulator::wire;

/// Password credentials an app that admits personal accounts may hold.
const PERSONAL_ACCOUNT_SECRET_LIMIT: usize = 2;
/// Federated identity credentials per application.
const MAX_FEDERATED: usize = 20;
const SECRET_ALPHABET: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.~";

fn parse_time(
    value: Option<&Value>,
    property: &str,
    resource: &str,
) -> GraphResult<Option<DateTime<Utc>>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => DateTime::parse_from_rfc3339(text)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| GraphError::invalid_value(property, resource)),
        Some(_) => Err(GraphError::invalid_value(property, resource)),
    }
}

/// Hash under which a secretText is remembered for the token endpoint.
pub fn secret_hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A service-generated secret shaped like Graph's (40 characters, `Q~` after the hint).
fn generate_secret() -> String {
    let mut rng = rand::rng();
    let mut pick = |n: usize| -> String {
        (0..n)
            .map(|_| SECRET_ALPHABET[rng.random_range(0..SECRET_ALPHABET.len())] as char)
            .collect()
    };
    format!("{}8Q~{}", pick(3), pick(34))
}

pub fn add_password(ctx: &mut Ctx, call: &Call, kind: Kind, id: Uuid) -> GraphResult<Reply> {
    require_method(call, &[Method::POST])?;
    let body = match &call.body {
        None | Some(Value::Null) => Map::new(),
        Some(_) => call.object()?,
    };
    let requested = body
        .get("passwordCredential")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let now = DateTime::from_timestamp_millis(ctx.now_ms).unwrap_or_default();
    let start = parse_time(
        requested.get("startDateTime"),
        "startDateTime",
        "PasswordCredential",
    )?
    .unwrap_or(now);
    let end = parse_time(
        requested.get("endDateTime"),
        "endDateTime",
        "PasswordCredential",
    )?
    .unwrap_or(start + chrono::Duration::days(730));
    if end <= start {
        return Err(GraphError::invalid_value(
            "endDateTime",
            "PasswordCredential",
        ));
    }
    // The policy the sandbox serves restricts applications only (its servicePrincipalRestrictions
    // are empty).
    if let Some(max) = ctx
        .faults
        .max_secret_lifetime
        .filter(|_| kind == Kind::Application)
    {
        let lifetime = (end - start).to_std().unwrap_or_default();
        if lifetime > max {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "CredentialInvalidLifetimeAsPerAppPolicy",
                format!(
                    "Credential lifetime exceeds the max value allowed as per assigned policy '{}'.",
                    ctx.store.policy_id
                ),
            ));
        }
    }
    let display_name = requested
        .get("displayName")
        .and_then(Value::as_str)
        .map(str::to_string);
    let key_id = ctx.store.new_id();
    let record = ctx.store.get_mut(kind, id).expect("resolved by caller");
    let existing = record
        .body
        .get("passwordCredentials")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if kind == Kind::Application
        && validate::allows_personal_accounts(&record.body)
        && existing >= PERSONAL_ACCOUNT_SECRET_LIMIT
    {
        return Err(GraphError::bad_request(format!(
            "The application can have at most {PERSONAL_ACCOUNT_SECRET_LIMIT} password credentials when it allows personal Microsoft accounts."
        )));
    }
    let secret = generate_secret();
    let hint: String = secret.chars().take(3).collect();
    let (start, end) = (
        wire::timestamp(start.timestamp_millis()),
        wire::timestamp(end.timestamp_millis()),
    );
    let credential =
        wire::password_credential(key_id, display_name.as_deref(), &hint, &start, &end);
    if let Some(Value::Array(items)) = record.body.get_mut("passwordCredentials") {
        items.push(Value::Object(credential.clone()));
    }
    record
        .credential_added_ms
        .insert(key_id.to_string(), ctx.now_ms);
    record
        .secret_hashes
        .insert(key_id.to_string(), secret_hash(&secret));
    let mut answer = Map::new();
    answer.insert(
        "@odata.context".into(),
        Value::String(wire::context(
            ctx.graph_url,
            "microsoft.graph.passwordCredential",
        )),
    );
    answer.extend(credential);
    answer.insert("secretText".into(), Value::String(secret));
    Ok(Reply::ok(Value::Object(answer)))
}

pub fn remove_password(ctx: &mut Ctx, call: &Call, kind: Kind, id: Uuid) -> GraphResult<Reply> {
    require_method(call, &[Method::POST])?;
    let body = call.object()?;
    let key_id = body_key_id(&body, "PasswordCredential")?;
    let record = ctx.store.get_mut(kind, id).expect("resolved by caller");
    remove_by_key_id(&mut record.body, "passwordCredentials", &key_id)?;
    record.secret_hashes.remove(&key_id);
    record.credential_added_ms.remove(&key_id);
    Ok(Reply::NoContent)
}

/// The `keyId` of a removePassword/removeKey body; `credential_type` names it in Graph's error.
fn body_key_id(body: &Map<String, Value>, credential_type: &str) -> GraphResult<String> {
    body.get("keyId")
        .and_then(Value::as_str)
        .and_then(|k| Uuid::parse_str(k).ok())
        .map(|k| k.to_string())
        .ok_or_else(|| GraphError::invalid_value("keyId", credential_type))
}

/// Removes the credential `key_id` from `collection` of an object's body.
// UNCONFIRMED: Graph's answer to removing an unknown keyId; the sandbox says 404.
fn remove_by_key_id(
    body: &mut Map<String, Value>,
    collection: &str,
    key_id: &str,
) -> GraphResult<()> {
    let Some(Value::Array(items)) = body.get_mut(collection) else {
        return Err(GraphError::not_found(key_id));
    };
    let before = items.len();
    items.retain(|c| c.get("keyId").and_then(Value::as_str) != Some(key_id));
    if items.len() == before {
        return Err(GraphError::not_found(key_id));
    }
    Ok(())
}

/// Audience of the proof-of-possession token addKey and removeKey require (Azure AD Graph's id).
const PROOF_AUDIENCE: &str = "00000002-0000-0000-c000-000000000000";
/// Longest lifetime Graph accepts for that token.
const PROOF_LIFETIME_SECS: i64 = 600;

/// Checks the `proof` of addKey/removeKey: an RS256 JWT signed by a certificate that is on the
/// object now and in effect, its issuer the object's id, its audience Azure AD Graph, valid now
/// for at most ten minutes.
/// <https://learn.microsoft.com/en-us/graph/application-rollkey-prooftoken>
fn check_proof(ctx: &Ctx, kind: Kind, id: Uuid, proof: Option<&Value>) -> GraphResult<()> {
    // UNCONFIRMED: the exact code and message Graph answers for a bad proof; its status is 400.
    let refuse = |why: &str| Err(GraphError::bad_request(format!("Invalid proof: {why}.")));
    let Some(proof) = proof.and_then(Value::as_str) else {
        return refuse("the request body must carry a proof-of-possession token");
    };
    let mut parts = proof.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return refuse("not a JWT");
    };
    let decode = |part: &str| -> Option<Value> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    };
    let (Some(head), Some(claims)) = (decode(header), decode(payload)) else {
        return refuse("not a JWT");
    };
    if head.get("alg").and_then(Value::as_str) != Some("RS256") {
        return refuse("it must be signed with RS256");
    }
    let Ok(signature) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature) else {
        return refuse("the signature does not decode");
    };
    let record = ctx.store.get(kind, id).expect("resolved by caller");
    let now = DateTime::from_timestamp_millis(ctx.now_ms).unwrap_or_default();
    let message = format!("{header}.{payload}");
    let signed_by_current = record
        .body
        .get("keyCredentials")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|k| k.get("usage").and_then(Value::as_str) == Some("Verify"))
        .filter_map(|k| cert::parse(&STANDARD.decode(k.get("key")?.as_str()?).ok()?))
        .filter(|c| c.not_before <= now && now <= c.not_after)
        .any(|c| cert::verify_rs256(&c, message.as_bytes(), &signature));
    if !signed_by_current {
        return refuse("it is not signed by a valid certificate of the object");
    }
    let claim = |name: &str| claims.get(name).and_then(Value::as_str);
    if claim("aud") != Some(PROOF_AUDIENCE) {
        return refuse("its audience must be 00000002-0000-0000-c000-000000000000");
    }
    if !claim("iss").is_some_and(|iss| iss.eq_ignore_ascii_case(&id.to_string())) {
        return refuse("its issuer must be the object's id");
    }
    let now = ctx.now_ms / 1000;
    let (Some(nbf), Some(exp)) = (
        claims.get("nbf").and_then(Value::as_i64),
        claims.get("exp").and_then(Value::as_i64),
    ) else {
        return refuse("it must carry nbf and exp");
    };
    if nbf > now + 300 || exp < now || exp - nbf > PROOF_LIFETIME_SECS {
        return refuse("it is not valid now, or valid for more than ten minutes");
    }
    Ok(())
}

/// `POST /{applications|servicePrincipals}/{id}/addKey`: adds a certificate (and, for a `Sign`
/// key, its password), proven by a certificate the object already has.
/// <https://learn.microsoft.com/en-us/graph/api/application-addkey>
pub fn add_key(ctx: &mut Ctx, call: &Call, kind: Kind, id: Uuid) -> GraphResult<Reply> {
    require_method(call, &[Method::POST])?;
    let body = call.object()?;
    check_proof(ctx, kind, id, body.get("proof"))?;
    let requested = body
        .get("keyCredential")
        .cloned()
        .filter(Value::is_object)
        .ok_or_else(|| GraphError::invalid_value("keyCredential", kind.resource_name()))?;
    let old = ctx
        .store
        .get(kind, id)
        .expect("resolved by caller")
        .body
        .clone();
    let mut requested = requested;
    if let Some(map) = requested.as_object_mut() {
        // addKey always adds: a keyId in the payload is Graph's to assign.
        map.remove("keyId");
    }
    let (mut added, new_ids) = key_credentials(ctx, &Map::new(), &[requested])?;
    let mut credential = added.pop().expect("one credential in, one out");
    let key_id = new_ids.into_iter().next().unwrap_or_default();
    let record = ctx.store.get_mut(kind, id).expect("resolved by caller");
    let mut keys = old
        .get("keyCredentials")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    keys.push(credential.clone());
    record
        .body
        .insert("keyCredentials".into(), Value::Array(keys));
    record.credential_added_ms.insert(key_id, ctx.now_ms);
    credential["key"] = Value::Null;
    let mut answer = Map::new();
    answer.insert(
        "@odata.context".into(),
        Value::String(wire::context(
            ctx.graph_url,
            "microsoft.graph.keyCredential",
        )),
    );
    if let Value::Object(map) = credential {
        answer.extend(map);
    }
    Ok(Reply::ok(Value::Object(answer)))
}

/// `POST /{applications|servicePrincipals}/{id}/removeKey`: removes a certificate, proven by a
/// certificate the object has (which may be the one removed).
/// <https://learn.microsoft.com/en-us/graph/api/application-removekey>
pub fn remove_key(ctx: &mut Ctx, call: &Call, kind: Kind, id: Uuid) -> GraphResult<Reply> {
    require_method(call, &[Method::POST])?;
    let body = call.object()?;
    let key_id = body_key_id(&body, "KeyCredential")?;
    check_proof(ctx, kind, id, body.get("proof"))?;
    let record = ctx.store.get_mut(kind, id).expect("resolved by caller");
    remove_by_key_id(&mut record.body, "keyCredentials", &key_id)?;
    record.credential_added_ms.remove(&key_id);
    Ok(Reply::NoContent)
}

/// Builds the keyCredentials collection from a PATCH payload: each certificate is parsed, its
/// keyId, dates, thumbprint and display name filled in as Graph does. Returns the collection and
/// the keyIds that are new. An entry without `key` keeps the stored key of the same keyId.
pub fn key_credentials(
    ctx: &mut Ctx,
    old: &Map<String, Value>,
    items: &[Value],
) -> GraphResult<(Vec<Value>, Vec<String>)> {
    let invalid = || GraphError::invalid_value("keyCredentials", "Application");
    let previous: Vec<Value> = old
        .get("keyCredentials")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut added = Vec::new();
    for item in items {
        let item = item.as_object().ok_or_else(invalid)?;
        let key_id = item
            .get("keyId")
            .and_then(Value::as_str)
            .map(str::to_string);
        let stored = key_id.as_ref().and_then(|k| {
            previous
                .iter()
                .find(|p| p.get("keyId").and_then(Value::as_str) == Some(k.as_str()))
        });
        let key = match item.get("key").and_then(Value::as_str) {
            Some(key) => key.to_string(),
            None => stored
                .and_then(|s| s.get("key"))
                .and_then(Value::as_str)
                .ok_or_else(invalid)?
                .to_string(),
        };
        let der = STANDARD.decode(&key).map_err(|_| invalid())?;
        let certificate = cert::parse(&der).ok_or_else(invalid)?;
        let kind = item
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("AsymmetricX509Cert");
        let usage = item
            .get("usage")
            .and_then(Value::as_str)
            .unwrap_or("Verify");
        if kind != "AsymmetricX509Cert" || !matches!(usage, "Verify" | "Sign") {
            return Err(invalid());
        }
        let key_id = match key_id {
            Some(k) => Uuid::parse_str(&k).map_err(|_| invalid())?.to_string(),
            None => ctx.store.new_id().to_string(),
        };
        if stored.is_none() {
            added.push(key_id.clone());
        }
        let start = parse_time(item.get("startDateTime"), "startDateTime", "KeyCredential")?
            .unwrap_or(certificate.not_before);
        let end = parse_time(item.get("endDateTime"), "endDateTime", "KeyCredential")?
            .unwrap_or(certificate.not_after);
        let display_name = item
            .get("displayName")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| certificate.subject_cn.as_ref().map(|cn| format!("CN={cn}")));
        let custom = item
            .get("customKeyIdentifier")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| STANDARD.encode(&certificate.sha1));
        out.push(json!({
            "customKeyIdentifier": custom,
            "displayName": display_name,
            "endDateTime": wire::timestamp(end.timestamp_millis()),
            "key": key,
            "keyId": key_id,
            "startDateTime": wire::timestamp(start.timestamp_millis()),
            "type": kind,
            "usage": usage,
        }));
    }
    Ok((out, added))
}

fn fic_context(ctx: &Ctx, app: Uuid, entity: bool) -> String {
    let suffix = if entity { "/$entity" } else { "" };
    wire::context(
        ctx.graph_url,
        &format!("applications('{app}')/federatedIdentityCredentials{suffix}"),
    )
}

fn with_context(context: String, fic: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    out.insert("@odata.context".into(), Value::String(context));
    out.extend(fic.clone());
    Value::Object(out)
}

fn check_fic(fic: &Map<String, Value>, others: &[&Map<String, Value>]) -> GraphResult<()> {
    let invalid = |p: &str| Err(GraphError::invalid_value(p, "FederatedIdentityCredential"));
    let text = |p: &str| fic.get(p).and_then(Value::as_str).unwrap_or_default();
    let name = text("name");
    if name.is_empty()
        || name.chars().count() > 120
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return invalid("name");
    }
    for property in ["issuer", "subject"] {
        if text(property).is_empty() || text(property).chars().count() > 600 {
            return invalid(property);
        }
    }
    if fic
        .get("description")
        .and_then(Value::as_str)
        .is_some_and(|d| d.chars().count() > 600)
    {
        return invalid("description");
    }
    if fic
        .get("audiences")
        .and_then(Value::as_array)
        .is_none_or(|a| a.len() != 1 || !a[0].is_string())
    {
        return invalid("audiences");
    }
    if others.iter().any(|o| {
        o.get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    }) {
        return Err(GraphError::new(
            StatusCode::CONFLICT,
            "Request_MultipleObjectsWithSameKeyValue",
            format!("FederatedIdentityCredential with name {name} already exists."),
        ));
    }
    if others
        .iter()
        .any(|o| o.get("issuer") == fic.get("issuer") && o.get("subject") == fic.get("subject"))
    {
        return Err(GraphError::bad_request(
            "FederatedIdentityCredential with the same issuer and subject already exists on the application.",
        ));
    }
    Ok(())
}

fn new_fic(
    ctx: &mut Ctx,
    body: &Map<String, Value>,
    name: Option<&str>,
) -> GraphResult<Map<String, Value>> {
    let mut fic = json!({"audiences": ["api://AzureADTokenExchange"], "description": null, "id": ctx.store.new_id().to_string(), "issuer": null, "name": name, "subject": null})
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (k, v) in body {
        if k.contains('@') {
            continue;
        }
        if !fic.contains_key(k) || k == "id" {
            return Err(GraphError::bad_request(format!(
                "Property '{k}' does not exist as a declared property or extension property."
            )));
        }
        if k == "name" && name.is_some_and(|n| Some(n) != v.as_str()) {
            return Err(GraphError::bad_request(
                "Property 'name' is read-only and cannot be set.",
            ));
        }
        fic.insert(k.clone(), v.clone());
    }
    Ok(fic)
}

/// `/applications/{id}/federatedIdentityCredentials[/{id} | (name='...')]`.
pub fn federated(ctx: &mut Ctx, call: &Call, app: Uuid, rest: &[Seg]) -> GraphResult<Reply> {
    let find = |ctx: &Ctx, key: &Seg| -> Option<usize> {
        ctx.store.objects()[&app]
            .federated
            .iter()
            .position(|f| match key {
                Seg::Name(id) => f
                    .get("id")
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.eq_ignore_ascii_case(id)),
                Seg::Key { property, value } => {
                    property == "name"
                        && f.get("name")
                            .and_then(Value::as_str)
                            .is_some_and(|v| v.eq_ignore_ascii_case(value))
                }
            })
    };
    match rest {
        [] => {
            require_method(call, &[Method::GET, Method::POST])?;
            if call.method == Method::GET {
                let value: Vec<Value> = ctx.store.objects()[&app]
                    .federated
                    .iter()
                    .cloned()
                    .map(Value::Object)
                    .collect();
                return Ok(Reply::ok(
                    json!({"@odata.context": fic_context(ctx, app, false), "value": value}),
                ));
            }
            let fic = new_fic(ctx, &call.object()?, None)?;
            create_fic(ctx, app, fic)
        }
        [key] => {
            require_method(call, &[Method::GET, Method::PATCH, Method::DELETE])?;
            let position = find(ctx, key);
            let record = ctx
                .store
                .get_mut(Kind::Application, app)
                .expect("resolved by caller");
            match (call.method.clone(), position) {
                (Method::GET, Some(i)) => Ok(Reply::ok(with_context(
                    fic_context(ctx, app, true),
                    &ctx.store.objects()[&app].federated[i],
                ))),
                (Method::DELETE, Some(i)) => {
                    record.federated.remove(i);
                    Ok(Reply::NoContent)
                }
                (Method::PATCH, Some(i)) => {
                    let body = call.object()?;
                    let mut updated = record.federated[i].clone();
                    for (k, v) in &body {
                        if k.contains('@') {
                            continue;
                        }
                        if k == "name" || k == "id" {
                            if updated.get(k) != Some(v) {
                                return Err(GraphError::bad_request(format!(
                                    "Property '{k}' is read-only and cannot be set."
                                )));
                            }
                        } else if updated.contains_key(k) {
                            updated.insert(k.clone(), v.clone());
                        } else {
                            return Err(GraphError::bad_request(format!(
                                "Property '{k}' does not exist as a declared property or extension property."
                            )));
                        }
                    }
                    let others: Vec<&Map<String, Value>> = record
                        .federated
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(_, f)| f)
                        .collect();
                    check_fic(&updated, &others)?;
                    record.federated[i] = updated;
                    Ok(Reply::NoContent)
                }
                (Method::PATCH, None) => match key {
                    // Creating by name needs `Prefer: create-if-missing`; without it the PATCH is
                    // an update of a credential that does not exist.
                    // <https://learn.microsoft.com/en-us/graph/api/federatedidentitycredential-upsert>
                    Seg::Key { property, value }
                        if property == "name" && call.prefer_create_if_missing =>
                    {
                        let fic = new_fic(ctx, &call.object()?, Some(value))?;
                        create_fic(ctx, app, fic)
                    }
                    _ => Err(GraphError::not_found(&super::key_text(key))),
                },
                _ => Err(GraphError::not_found(&super::key_text(key))),
            }
        }
        _ => Err(GraphError::gateway_bad_request("Invalid request URL.")),
    }
}

fn create_fic(ctx: &mut Ctx, app: Uuid, fic: Map<String, Value>) -> GraphResult<Reply> {
    let record = ctx
        .store
        .get_mut(Kind::Application, app)
        .expect("resolved by caller");
    if record.federated.len() >= MAX_FEDERATED {
        return Err(GraphError::bad_request(format!(
            "The application already has the maximum of {MAX_FEDERATED} federated identity credentials."
        )));
    }
    let others: Vec<&Map<String, Value>> = record.federated.iter().collect();
    check_fic(&fic, &others)?;
    record.federated.push(fic.clone());
    Ok(Reply::created(with_context(
        fic_context(ctx, app, true),
        &fic,
    )))
}
