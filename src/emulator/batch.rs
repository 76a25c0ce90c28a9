//! JSON batching (`POST /v1.0/$batch`): up to 20 requests, `dependsOn` ordering, 424 for
//! dependants of a failed request, answers in arbitrary order. Each item runs through the same
//! pipeline as a request sent alone (and is throttled and logged on its own).

use std::collections::HashMap;
use std::time::Instant;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::caller::Caller;
use super::error::GraphError;
use super::log::{EntryKind, LogEntry};
use super::pipeline::{Input, Outcome, Payload, Shared, execute, lock};

/// Most requests one batch may carry.
pub const MAX_BATCH_REQUESTS: usize = 20;

fn refuse(message: String, request_id: &str, client_request_id: &str) -> Outcome {
    let error = GraphError::gateway_bad_request(message);
    Outcome {
        status: error.status,
        headers: Vec::new(),
        payload: Payload::Json(error.body(request_id, client_request_id)),
    }
}

struct Item {
    id: String,
    method: Method,
    url: String,
    headers: HeaderMap,
    body: Option<Value>,
    depends_on: Vec<String>,
}

fn parse_item(value: &Value, seen: &[String]) -> Result<Item, String> {
    let object = value.as_object().ok_or("Invalid batch payload format.")?;
    let id = match object.get("id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err("Invalid batch payload format: every request needs an id.".into()),
    };
    // Ids are compared case-insensitively and must be unique, or the whole batch is refused.
    // <https://learn.microsoft.com/en-us/graph/json-batching#creating-a-batch-request>
    if seen.iter().any(|s| s.eq_ignore_ascii_case(&id)) {
        return Err(format!(
            "Invalid batch payload format: the request id '{id}' is used more than once."
        ));
    }
    let method = object
        .get("method")
        .and_then(Value::as_str)
        .and_then(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
        .ok_or_else(|| {
            format!("Invalid batch payload format: request '{id}' has no valid method.")
        })?;
    let url = object
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("Invalid batch payload format: request '{id}' has no url."))?
        .to_string();
    // Item urls are relative to the batch's own version (`/users`, not https://graph...).
    if url.contains("://") {
        return Err(format!(
            "Invalid batch payload format: request '{id}' has an absolute url; batch items take a url relative to the version, such as /applications."
        ));
    }
    let mut headers = HeaderMap::new();
    for (name, value) in object
        .get("headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let (Ok(name), Some(Ok(value))) = (
            HeaderName::from_bytes(name.as_bytes()),
            value.as_str().map(HeaderValue::from_str),
        ) {
            headers.insert(name, value);
        }
    }
    let depends_on: Vec<String> = match object.get("dependsOn") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(ids)) => ids
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect(),
        Some(_) => {
            return Err(format!(
                "Invalid batch payload format: dependsOn of request '{id}' must be an array."
            ));
        }
    };
    if let Some(unknown) = depends_on
        .iter()
        .find(|d| !seen.iter().any(|s| s.eq_ignore_ascii_case(d)))
    {
        return Err(format!(
            "Invalid batch payload format: request '{id}' depends on '{unknown}', which is not an earlier request of the batch."
        ));
    }
    Ok(Item {
        id,
        method,
        url,
        headers,
        body: object.get("body").cloned(),
        depends_on,
    })
}

/// Splits a batch item URL into a path below the version segment and a query string.
fn relative(url: &str) -> (String, String) {
    let mut rest = url;
    if let Some(at) = rest.find("/v1.0/") {
        rest = &rest[at + "/v1.0".len()..];
    }
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    (path, query.to_string())
}

const BATCH_JSON_CONTENT_TYPE: &str = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8";

/// One item's answer written out: `body`, `headers`, `id`, `status` (the key order a JSON map
/// writes). A body already written out (a collection page) goes in as it is.
fn item_answer(id: &str, outcome: Outcome) -> Vec<u8> {
    let mut headers = Map::new();
    for (name, value) in outcome.headers {
        headers.insert(name, Value::String(value));
    }
    let mut out = Vec::with_capacity(256);
    out.push(b'{');
    let mut body = |out: &mut Vec<u8>, content_type: &str, bytes: &[u8]| {
        headers.insert("Content-Type".into(), json!(content_type));
        out.extend_from_slice(b"\"body\":");
        out.extend_from_slice(bytes);
        out.push(b',');
    };
    match outcome.payload {
        Payload::None => {}
        Payload::Json(value) => body(&mut out, BATCH_JSON_CONTENT_TYPE, &json_bytes(&value)),
        Payload::Rendered(bytes) => body(&mut out, BATCH_JSON_CONTENT_TYPE, &bytes),
        Payload::Text(text) => body(&mut out, "text/plain", &json_bytes(&text)),
    }
    out.extend_from_slice(b"\"headers\":");
    out.extend_from_slice(&json_bytes(&headers));
    out.extend_from_slice(b",\"id\":");
    out.extend_from_slice(&json_bytes(&id));
    out.extend_from_slice(format!(",\"status\":{}}}", outcome.status.as_u16()).as_bytes());
    out
}

fn json_bytes(value: &impl serde::Serialize) -> Vec<u8> {
    // Values, maps and strings always serialise.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Runs a batch; the outcome is the envelope answer.
pub fn handle(
    shared: &Shared,
    caller: &Caller,
    graph_url: &str,
    body: &[u8],
    batch_seq: u64,
    request_id: &str,
    client_request_id: &str,
) -> Outcome {
    let Ok(payload) = serde_json::from_slice::<Value>(body) else {
        return refuse(
            "Invalid batch payload format.".into(),
            request_id,
            client_request_id,
        );
    };
    let Some(requests) = payload.get("requests").and_then(Value::as_array) else {
        return refuse(
            "Invalid batch payload format.".into(),
            request_id,
            client_request_id,
        );
    };
    if requests.len() > MAX_BATCH_REQUESTS {
        return refuse(
            format!(
                "Invalid batch payload: the batch contains {} requests; the limit is {MAX_BATCH_REQUESTS}.",
                requests.len()
            ),
            request_id,
            client_request_id,
        );
    }
    let mut items = Vec::with_capacity(requests.len());
    let mut seen = Vec::new();
    for request in requests {
        match parse_item(request, &seen) {
            Ok(item) => {
                seen.push(item.id.clone());
                items.push(item);
            }
            Err(message) => return refuse(message, request_id, client_request_id),
        }
    }
    let mut statuses: HashMap<String, StatusCode> = HashMap::new();
    let mut answers = Vec::with_capacity(items.len());
    for item in items {
        let started = Instant::now();
        let item_request_id = Uuid::new_v4().to_string();
        let (path, query) = relative(&item.url);
        let failed_dependency = item.depends_on.iter().any(|d| {
            statuses
                .get(&d.to_lowercase())
                .is_none_or(|s| s.as_u16() >= 400)
        });
        let outcome = if failed_dependency {
            let error = GraphError::new(
                StatusCode::FAILED_DEPENDENCY,
                "FailedDependency",
                "The request was not executed because a request it depends on failed.",
            );
            Outcome {
                status: error.status,
                headers: Vec::new(),
                payload: Payload::Json(error.body(&item_request_id, client_request_id)),
            }
        } else if path == "/$batch" {
            let error = GraphError::gateway_bad_request(
                "A batch request cannot contain another batch request.",
            );
            Outcome {
                status: error.status,
                headers: Vec::new(),
                payload: Payload::Json(error.body(&item_request_id, client_request_id)),
            }
        } else if item.body.is_some() && !item.headers.contains_key("content-type") {
            let error = GraphError::gateway_bad_request(
                "Content-Type header is required for a request with a body.",
            );
            Outcome {
                status: error.status,
                headers: Vec::new(),
                payload: Payload::Json(error.body(&item_request_id, client_request_id)),
            }
        } else {
            let body = item
                .body
                .as_ref()
                .map(|b| b.to_string())
                .unwrap_or_default();
            let input = Input {
                method: &item.method,
                path: &path,
                query: &query,
                headers: &item.headers,
                body: body.as_bytes(),
                request_id: &item_request_id,
                client_request_id,
                graph_url,
            };
            execute(shared, caller, &input)
        };
        statuses.insert(item.id.to_lowercase(), outcome.status);
        lock(&shared.log).record(LogEntry {
            seq: 0,
            timestamp: chrono::Utc::now(),
            kind: EntryKind::BatchItem,
            method: item.method.to_string(),
            path: if query.is_empty() {
                path.clone()
            } else {
                format!("{path}?{query}")
            },
            status: outcome.status.as_u16(),
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            batch_seq: Some(batch_seq),
            batch_item_id: Some(item.id.clone()),
            client_id: Some(caller.app_id.clone()),
            host: None,
        });
        answers.push(item_answer(&item.id, outcome));
    }
    lock(&shared.faults).shuffle(&mut answers);
    let mut envelope = Vec::with_capacity(answers.iter().map(Vec::len).sum::<usize>() + 32);
    envelope.extend_from_slice(b"{\"responses\":[");
    for (i, answer) in answers.iter().enumerate() {
        if i > 0 {
            envelope.push(b',');
        }
        envelope.extend_from_slice(answer);
    }
    envelope.extend_from_slice(b"]}");
    Outcome {
        status: StatusCode::OK,
        headers: Vec::new(),
        payload: Payload::Rendered(envelope),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_answers_are_written_as_a_json_object_would_be() {
        let outcome = |payload| Outcome {
            status: StatusCode::OK,
            headers: vec![("x-ms-resource-unit".into(), "1".into())],
            payload,
        };
        let page = json!({"@odata.context": "c", "value": [{"id": "a\"b"}]});
        let cases = [
            (
                outcome(Payload::Json(page.clone())),
                json!({"body": page, "headers": {"Content-Type": BATCH_JSON_CONTENT_TYPE, "x-ms-resource-unit": "1"}, "id": "7", "status": 200}),
            ),
            (
                outcome(Payload::Rendered(page.to_string().into_bytes())),
                json!({"body": page, "headers": {"Content-Type": BATCH_JSON_CONTENT_TYPE, "x-ms-resource-unit": "1"}, "id": "7", "status": 200}),
            ),
            (
                outcome(Payload::Text("12".into())),
                json!({"body": "12", "headers": {"Content-Type": "text/plain", "x-ms-resource-unit": "1"}, "id": "7", "status": 200}),
            ),
            (
                outcome(Payload::None),
                json!({"headers": {"x-ms-resource-unit": "1"}, "id": "7", "status": 200}),
            ),
        ];
        for (outcome, expected) in cases {
            let written = String::from_utf8(item_answer("7", outcome)).unwrap();
            assert_eq!(written, expected.to_string());
        }
    }

    #[test]
    fn item_urls_become_relative_paths() {
        assert_eq!(
            relative("/applications?$top=1"),
            ("/applications".into(), "$top=1".into())
        );
        assert_eq!(
            relative("applications"),
            ("/applications".into(), String::new())
        );
    }

    #[test]
    fn depends_on_must_name_an_earlier_request() {
        let item = json!({"id": "2", "method": "GET", "url": "/users", "dependsOn": ["3"]});
        assert!(parse_item(&item, &["1".into()]).is_err());
        let item = json!({"id": "2", "method": "GET", "url": "/users", "dependsOn": ["1"]});
        assert!(parse_item(&item, &["1".into()]).is_ok());
    }

    #[test]
    fn ids_are_unique_whatever_their_case_and_urls_relative() {
        let item = json!({"id": "A", "method": "GET", "url": "/users"});
        assert!(parse_item(&item, &["a".into()]).is_err());
        let item =
            json!({"id": "b", "method": "GET", "url": "https://graph.microsoft.com/v1.0/users"});
        assert!(parse_item(&item, &[]).is_err());
    }
}
