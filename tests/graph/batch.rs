//! `$batch` against a fake that behaves like Graph's: answers in any order, `dependsOn` with 424
//! for dependants of failures, items throttled on their own.

use crate::fake;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use appreg::graph::{GraphError, MAX_BATCH, Request};
use fake::{Fake, Reply, client_for, gap};
use serde_json::{Value, json};

type ItemFn = dyn Fn(&Value, usize) -> (u16, Value, Value) + Send + Sync;

/// A `$batch` endpoint: `item(request, times this method+url was seen before)` answers each item;
/// dependants of failed items get 424; answers are returned in reverse order.
async fn batch_fake(
    item: impl Fn(&Value, usize) -> (u16, Value, Value) + Send + Sync + 'static,
) -> Fake {
    let item: Arc<ItemFn> = Arc::new(item);
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    Fake::start(move |req, _| {
        assert_eq!(req.path, "/v1.0/$batch");
        let body = req.json();
        let requests = body["requests"].as_array().unwrap().clone();
        assert!(requests.len() <= MAX_BATCH, "at most 20 per envelope");
        let mut status_of: HashMap<String, u16> = HashMap::new();
        let mut responses = Vec::new();
        for r in &requests {
            let id = r["id"].as_str().unwrap().to_string();
            let failed_dep = r["dependsOn"].as_array().is_some_and(|d| {
                d.iter()
                    .any(|d| !(200..300).contains(&status_of[d.as_str().unwrap()]))
            });
            let (status, headers, body) = if failed_dep {
                (
                    424,
                    json!({}),
                    json!({"error": {"code": "FailedDependency", "message": "dependency failed"}}),
                )
            } else {
                let key = format!(
                    "{} {}",
                    r["method"].as_str().unwrap(),
                    r["url"].as_str().unwrap()
                );
                let k = {
                    let mut seen = seen.lock().unwrap();
                    let k = *seen.get(&key).unwrap_or(&0);
                    seen.insert(key, k + 1);
                    k
                };
                item(r, k)
            };
            status_of.insert(id.clone(), status);
            responses.push(json!({"id": id, "status": status, "headers": headers, "body": body}));
        }
        responses.reverse();
        Reply::Json(200, json!({"responses": responses}))
    })
    .await
}

fn ok_item(r: &Value) -> (u16, Value, Value) {
    (
        200,
        json!({"Content-Type": "application/json"}),
        json!({"id": r["url"]}),
    )
}

#[tokio::test]
async fn answers_come_back_in_input_order_across_envelopes() {
    let fake = batch_fake(|r, _| ok_item(r)).await;
    let client = client_for(&fake);
    let requests: Vec<Request> = (0..45)
        .map(|i| Request::get(format!("/applications/{i}")))
        .collect();
    let results = client.batch(requests).await;
    assert_eq!(results.len(), 45);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(
            r.as_ref().unwrap().body.as_ref().unwrap()["id"],
            format!("/applications/{i}")
        );
    }
    let stats = client.stats();
    assert_eq!(
        (stats.round_trips, stats.graph_requests, stats.reads),
        (3, 45, 45)
    );
    assert_eq!(stats.resource_units, 90, "items are estimated one by one");
}

#[tokio::test]
async fn partial_failures_stay_with_their_items() {
    let fake = batch_fake(|r, _| {
        if r["url"].as_str().unwrap().ends_with("/1") {
            (404, json!({}), json!({"error": {"code": "Request_ResourceNotFound", "message": "Resource '1' does not exist"}}))
        } else {
            ok_item(r)
        }
    })
    .await;
    let client = client_for(&fake);
    let results = client
        .batch(vec![
            Request::get("/applications/0"),
            Request::get("/applications/1"),
            Request::get("/applications/2"),
        ])
        .await;
    assert!(results[0].is_ok() && results[2].is_ok());
    let err = results[1].as_ref().unwrap_err();
    assert!(err.is_not_found());
    assert!(
        err.to_string()
            .starts_with("GET /applications/1: HTTP 404 Request_ResourceNotFound"),
        "{err}"
    );
    assert_eq!(fake.log().len(), 1, "a 404 is an answer, not retried");
}

#[tokio::test]
async fn a_throttled_item_is_retried_alone_after_its_retry_after() {
    let fake = batch_fake(|r, k| {
        if r["url"].as_str().unwrap().ends_with("/2") && k == 0 {
            (
                429,
                json!({"Retry-After": "0.3"}),
                json!({"error": {"code": "TooManyRequests", "message": "throttled"}}),
            )
        } else {
            ok_item(r)
        }
    })
    .await;
    let client = client_for(&fake);
    let results = client
        .batch(
            (0..5)
                .map(|i| Request::get(format!("/servicePrincipals/{i}")))
                .collect(),
        )
        .await;
    assert!(results.iter().all(Result::is_ok));
    let log = fake.log();
    assert_eq!(log.len(), 2);
    let second = log[1].json();
    let resent: Vec<&str> = second["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        resent,
        vec!["/servicePrincipals/2"],
        "only the throttled item is sent again"
    );
    assert!(
        gap(&log[0], &log[1]) >= Duration::from_millis(300),
        "waited {:?}",
        gap(&log[0], &log[1])
    );
    let stats = client.stats();
    assert_eq!(
        (
            stats.throttled,
            stats.retries,
            stats.graph_requests,
            stats.round_trips
        ),
        (1, 1, 6, 2)
    );
}

#[tokio::test]
async fn depends_on_is_sent_and_failures_propagate() {
    let fake = batch_fake(|r, _| {
        if r["method"] == "PATCH" {
            (
                400,
                json!({}),
                json!({"error": {"code": "Request_BadRequest", "message": "bad"}}),
            )
        } else {
            ok_item(r)
        }
    })
    .await;
    let client = client_for(&fake);
    let results = client
        .batch(vec![
            Request::patch("/applications/a", json!({"displayName": "x"})),
            Request::get("/applications/a").depends_on(0),
            Request::get("/applications/b"),
        ])
        .await;
    assert_eq!(results[0].as_ref().unwrap_err().status(), Some(400));
    assert!(
        matches!(results[1], Err(GraphError::FailedDependency { .. })),
        "{:?}",
        results[1]
    );
    assert!(results[2].is_ok());
    let sent = fake.log()[0].json();
    let dependant = sent["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "1")
        .unwrap();
    assert_eq!(dependant["dependsOn"], json!(["0"]));
    let patch = sent["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "0")
        .unwrap();
    assert_eq!(
        patch["headers"]["Content-Type"], "application/json",
        "a body needs a Content-Type"
    );
}

#[tokio::test]
async fn a_throttled_dependency_is_retried_with_its_dependants() {
    let fake = batch_fake(|r, k| {
        if r["method"] == "PATCH" && k == 0 {
            (
                429,
                json!({"Retry-After": "0.1"}),
                json!({"error": {"code": "TooManyRequests", "message": "throttled"}}),
            )
        } else if r["method"] == "PATCH" {
            (204, json!({}), Value::Null)
        } else {
            ok_item(r)
        }
    })
    .await;
    let client = client_for(&fake);
    let results = client
        .batch(vec![
            Request::upsert("/applications(uniqueName='a')", json!({"displayName": "A"})),
            Request::get("/applications(uniqueName='a')").depends_on(0),
        ])
        .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(results[0].as_ref().unwrap().status, 204);
    let log = fake.log();
    assert_eq!(log.len(), 2);
    assert_eq!(
        log[1].json()["requests"].as_array().unwrap().len(),
        2,
        "the 424'd dependant goes along"
    );
}

#[tokio::test]
async fn long_dependency_chains_are_split_and_ordered() {
    let fake = batch_fake(|r, _| ok_item(r)).await;
    let client = client_for(&fake);
    let requests: Vec<Request> = (0..25)
        .map(|i| {
            let r = Request::get(format!("/applications/{i}"));
            if i > 0 { r.depends_on(i - 1) } else { r }
        })
        .collect();
    let results = client.batch(requests).await;
    assert!(results.iter().all(Result::is_ok));
    let log = fake.log();
    assert_eq!(log.len(), 2);
    let second = log[1].json();
    let first_of_second = &second["requests"][0];
    assert_eq!(first_of_second["id"], "20");
    assert!(
        first_of_second.get("dependsOn").is_none(),
        "the cut dependency is enforced by the client"
    );
}

#[tokio::test]
async fn a_lost_envelope_repeats_only_idempotent_items() {
    let fake = Fake::start(|req, n| {
        if n == 0 {
            return Reply::Hang(Duration::from_secs(3));
        }
        let responses: Vec<Value> = req.json()["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| json!({"id": r["id"], "status": 200, "body": {}}))
            .collect();
        Reply::Json(200, json!({"responses": responses}))
    })
    .await;
    let client = client_for(&fake);
    let results = client
        .batch(vec![
            Request::post(
                "/applications/a/addPassword",
                json!({"passwordCredential": {}}),
            ),
            Request::get("/applications/b"),
        ])
        .await;
    assert!(
        results[0].as_ref().unwrap_err().is_outcome_unknown(),
        "{:?}",
        results[0]
    );
    assert!(results[1].is_ok());
    let log = fake.log();
    assert_eq!(log.len(), 2);
    let resent = log[1].json();
    assert_eq!(resent["requests"].as_array().unwrap().len(), 1);
    assert_eq!(resent["requests"][0]["method"], "GET");
}

#[tokio::test]
async fn invalid_dependencies_are_refused_before_sending() {
    let fake = batch_fake(|r, _| ok_item(r)).await;
    let client = client_for(&fake);
    let results = client
        .batch(vec![
            Request::get("/applications/a").depends_on(1),
            Request::get("/applications/b"),
        ])
        .await;
    assert!(matches!(results[0], Err(GraphError::InvalidRequest { .. })));
    assert!(results[1].is_ok());
}
