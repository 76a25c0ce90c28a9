//! The Graph client against fakes on loopback: paging, retries and their limits, the never-repeat
//! rule for POSTs of unknown outcome, replication lag, errors, the in-flight bound, accounting.

use crate::fake;

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

/// The part of a Graph `application` these tests read.
#[derive(Debug, serde::Deserialize)]
struct Application {
    id: Option<String>,
}
use appreg::graph::{GraphClient, GraphError, Request, odata};
use fake::{Fake, Reply, client_for, gap, graph_error, test_config};
use serde_json::json;

#[tokio::test]
async fn list_follows_next_links_across_pages() {
    let fake = Fake::start(|seen, _| {
        // Four pages of two; the link is absolute, as Graph sends it.
        let page: usize = seen.query_param("$skiptoken").map_or(0, |t| t.parse().unwrap());
        let value: Vec<_> = (0..2)
            .map(|i| json!({"id": format!("id-{}", page * 2 + i), "displayName": format!("app {}", page * 2 + i)}))
            .collect();
        let mut body = json!({"@odata.context": "x", "value": value});
        if page < 3 {
            body["@odata.nextLink"] = json!(format!("{}/v1.0/applications?$top=2&$select=id,displayName&$skiptoken={}", seen.base(), page + 1));
        }
        Reply::Json(200, body)
    })
    .await;
    let client = client_for(&fake);
    let apps: Vec<Application> = client
        .list(
            Request::get("/applications")
                .query("$top", "2")
                .query("$select", "id,displayName"),
        )
        .await
        .unwrap();
    assert_eq!(apps.len(), 8);
    assert_eq!(apps[7].id.as_deref(), Some("id-7"));
    let log = fake.seen("GET", "/v1.0/applications");
    assert_eq!(log.len(), 4, "one request per page");
    assert_eq!(
        log[0].query_param("$select").as_deref(),
        Some("id,displayName")
    );
    assert_eq!(log[3].query_param("$skiptoken").as_deref(), Some("3"));
    let stats = client.stats();
    assert_eq!(
        (
            stats.round_trips,
            stats.graph_requests,
            stats.reads,
            stats.writes
        ),
        (4, 4, 4, 0)
    );
    assert_eq!(
        stats.resource_units, 4,
        "GET applications with $select: 2 - 1 each"
    );
}

#[tokio::test]
async fn retry_after_is_honoured_fractional_seconds() {
    let fake = Fake::start(|_, n| match n {
        0 => Reply::Full(
            429,
            vec![("Retry-After", "0.4".into())],
            Some(json!({"error": {"code": "TooManyRequests", "message": "slow down"}})),
        ),
        _ => Reply::Json(200, json!({"id": "a"})),
    })
    .await;
    let client = client_for(&fake);
    let app: Application = client
        .get_json(Request::get("/applications/a"))
        .await
        .unwrap();
    assert_eq!(app.id.as_deref(), Some("a"));
    let log = fake.log();
    assert_eq!(log.len(), 2);
    assert!(
        gap(&log[0], &log[1]) >= Duration::from_millis(400),
        "waited {:?}",
        gap(&log[0], &log[1])
    );
    let stats = client.stats();
    assert_eq!(
        (stats.retries, stats.throttled, stats.round_trips),
        (1, 1, 2)
    );
    assert!(stats.retry_wait_ms >= 400);
}

#[tokio::test]
async fn retry_after_as_an_http_date() {
    let fake = Fake::start(|_, n| match n {
        0 => Reply::Full(
            503,
            vec![(
                "Retry-After",
                httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(2)),
            )],
            None,
        ),
        _ => Reply::Status(204),
    })
    .await;
    let client = client_for(&fake);
    client
        .send(Request::delete("/applications/a"))
        .await
        .unwrap();
    let log = fake.log();
    // HTTP dates have one-second resolution: two seconds ahead is at least one second away.
    assert!(
        gap(&log[0], &log[1]) >= Duration::from_secs(1),
        "waited {:?}",
        gap(&log[0], &log[1])
    );
}

#[tokio::test]
async fn a_throttle_storm_that_ends_succeeds_within_the_budget() {
    let fake = Fake::start(|_, n| {
        if n < 4 {
            Reply::Full(429, vec![("Retry-After", "0.1".into())], None)
        } else {
            Reply::Json(200, json!({"value": []}))
        }
    })
    .await;
    let client = client_for(&fake);
    client
        .send(Request::get("/servicePrincipals"))
        .await
        .unwrap();
    assert_eq!(client.stats().throttled, 4);
    assert_eq!(fake.log().len(), 5);
}

#[tokio::test]
async fn a_throttle_storm_ends_in_a_clear_error_when_the_budget_is_spent() {
    let fake = Fake::start(|_, _| {
        Reply::Full(
            429,
            vec![("Retry-After", "0.3".into())],
            Some(json!({"error": {"code": "TooManyRequests", "message": "Too many requests"}})),
        )
    })
    .await;
    let mut config = test_config(fake.url());
    config.retry_budget = Duration::from_secs(1);
    config.max_attempts = 100;
    let client = GraphClient::new(config, Arc::new(fake::FixedToken("t"))).unwrap();
    let err = client
        .send(Request::get("/applications"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, GraphError::GaveUp { .. }), "{err:?}");
    assert_eq!(err.status(), Some(429));
    assert!(text.contains("retry budget of 1.0s is spent"), "{text}");
    assert!(text.contains("TooManyRequests"), "{text}");
    // 0.3 s waits in a 1 s budget: the first request and three retries.
    assert_eq!(fake.log().len(), 4);
}

#[tokio::test]
async fn attempts_are_bounded_too() {
    let fake = Fake::start(|_, _| Reply::Status(503)).await;
    let mut config = test_config(fake.url());
    config.max_attempts = 3;
    let client = GraphClient::new(config, Arc::new(fake::FixedToken("t"))).unwrap();
    let err = client
        .send(Request::get("/applications"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("3 attempts made"), "{err}");
    assert_eq!(fake.log().len(), 3);
}

#[tokio::test]
async fn a_post_without_an_answer_is_never_repeated() {
    let fake = Fake::start(|_, _| Reply::Hang(Duration::from_secs(3))).await;
    let client = client_for(&fake);
    let err = client
        .send(Request::post(
            "/applications/a/addPassword",
            json!({"passwordCredential": {"displayName": "x"}}),
        ))
        .await
        .unwrap_err();
    assert!(err.is_outcome_unknown(), "{err:?}");
    assert!(err.to_string().contains("re-read the object"), "{err}");
    assert_eq!(
        fake.seen("POST", "/addPassword").len(),
        1,
        "sent exactly once"
    );
}

#[tokio::test]
async fn idempotent_requests_are_retried_after_a_timeout() {
    let fake = Fake::start(|_, n| {
        if n == 0 {
            Reply::Hang(Duration::from_secs(3))
        } else {
            Reply::Status(204)
        }
    })
    .await;
    let client = client_for(&fake);
    client
        .send(Request::upsert(
            format!("/applications(uniqueName={})", odata::key("crm")),
            json!({"displayName": "CRM"}),
        ))
        .await
        .unwrap();
    assert_eq!(fake.log().len(), 2);
    assert_eq!(client.stats().retries, 1);
}

/// A server that reads each request and closes the connection without answering.
fn start_resetting_server() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 8192];
            let _ = stream.read(&mut buf);
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = stream.flush();
            drop(stream);
        }
    });
    (url, count)
}

#[tokio::test]
async fn connection_reset_after_sending_a_post_is_an_unknown_outcome() {
    let (url, count) = start_resetting_server();
    let mut config = test_config(url::Url::parse(&url).unwrap());
    config.max_attempts = 3;
    let client = GraphClient::new(config, Arc::new(fake::FixedToken("t"))).unwrap();
    let err = client
        .send(Request::post("/servicePrincipals", json!({"appId": "x"})))
        .await
        .unwrap_err();
    assert!(err.is_outcome_unknown(), "{err:?}");
    assert_eq!(
        count.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the POST reached the server once"
    );
    let err = client
        .send(Request::get("/servicePrincipals"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GraphError::GaveUp { last, .. } if matches!(**last, GraphError::Transport { .. })),
        "{err:?}"
    );
    assert_eq!(
        count.load(std::sync::atomic::Ordering::SeqCst),
        4,
        "the GET was tried three times"
    );
}

#[tokio::test]
async fn gateway_timeouts_repeat_only_idempotent_requests() {
    let fake = Fake::start(|seen, n| match (seen.method.as_str(), n) {
        (_, 0) => Reply::Status(504),
        ("PATCH", _) => Reply::Status(204),
        _ => Reply::Json(201, json!({})),
    })
    .await;
    let client = client_for(&fake);
    let err = client
        .send(Request::post("/applications", json!({"displayName": "x"})))
        .await
        .unwrap_err();
    assert!(err.is_outcome_unknown(), "{err:?}");
    assert_eq!(fake.seen("POST", "/applications").len(), 1);
    client
        .send(Request::patch("/applications/1", json!({"notes": "n"})))
        .await
        .unwrap();
    assert_eq!(fake.seen("PATCH", "/applications/1").len(), 2);
}

#[tokio::test]
async fn replication_lag_is_retried_only_after_our_own_write() {
    let fake = Fake::start(|seen, n| {
        if seen.path.ends_with("/servicePrincipals") && n < 2 {
            return Reply::Json(400, json!({"error": {"code": "Request_BadRequest",
                "message": "The appId 'x' of the service principal does not reference a valid application object.",
                "details": [{"code": "NoBackingApplicationObject", "message": "...", "target": "appId"}]}}));
        }
        if seen.path.ends_with("/servicePrincipals") {
            return Reply::Json(201, json!({"id": "sp"}));
        }
        if n < 2 {
            graph_error(404, "Request_ResourceNotFound", "Resource 'new' does not exist or one of its queried reference-property objects are not present.")
        } else {
            Reply::Json(200, json!({"id": "new"}))
        }
    })
    .await;
    let client = client_for(&fake);
    let app: Application = client
        .get_json(Request::get("/applications/new").after_own_write())
        .await
        .unwrap();
    assert_eq!(app.id.as_deref(), Some("new"));
    assert_eq!(fake.seen("GET", "/applications/new").len(), 3);

    let err = client
        .send(Request::get("/applications/other"))
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(
        fake.seen("GET", "/applications/other").len(),
        1,
        "a plain 404 is an answer"
    );

    // A POST refused with a definite answer is safe to send again.
    client
        .send(Request::post("/servicePrincipals", json!({"appId": "x"})).after_own_write())
        .await
        .unwrap();
    assert_eq!(fake.seen("POST", "/servicePrincipals").len(), 3);
}

#[tokio::test]
async fn forbidden_names_the_permission_and_request_id() {
    let fake = Fake::start(|_, _| {
        graph_error(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    })
    .await;
    let client = client_for(&fake);
    let err = client
        .send(Request::post(
            "/servicePrincipals/sp/appRoleAssignedTo",
            json!({}),
        ))
        .await
        .unwrap_err();
    let api = err.api().unwrap();
    assert_eq!(
        (api.status, api.code.as_str(), api.request_id.as_deref()),
        (403, "Authorization_RequestDenied", Some("req-123"))
    );
    let text = err.to_string();
    assert!(
        text.starts_with(
            "POST /servicePrincipals/sp/appRoleAssignedTo: HTTP 403 Authorization_RequestDenied"
        ),
        "{text}"
    );
    assert!(text.contains("AppRoleAssignment.ReadWrite.All"), "{text}");
}

#[tokio::test]
async fn names_reach_the_server_intact() {
    let fake = Fake::start(|_, _| Reply::Json(200, json!({"value": []}))).await;
    let client = client_for(&fake);
    client
        .send(Request::get(format!(
            "/applications(uniqueName={})",
            odata::key("O'Brien/x y")
        )))
        .await
        .unwrap();
    client
        .send(Request::get("/applications").query(
            "$filter",
            format!("displayName eq {}", odata::quote("A&B 'C'")),
        ))
        .await
        .unwrap();
    let log = fake.log();
    let path = percent_encoding::percent_decode_str(&log[0].path)
        .decode_utf8()
        .unwrap();
    assert_eq!(path, "/v1.0/applications(uniqueName='O''Brien/x y')");
    assert_eq!(
        log[1].query_param("$filter").as_deref(),
        Some("displayName eq 'A&B ''C'''")
    );
}

#[tokio::test]
async fn requests_in_flight_are_bounded() {
    let fake = Fake::start(|_, _| Reply::Hang(Duration::from_millis(100))).await;
    let mut config = test_config(fake.url());
    config.max_in_flight = 3;
    let client = GraphClient::new(config, Arc::new(fake::FixedToken("t"))).unwrap();
    let sends = (0..10).map(|i| client.send(Request::get(format!("/applications/{i}"))));
    let results = futures_util::future::join_all(sends).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(fake.max_in_flight(), 3);
}

#[tokio::test]
async fn resource_units_come_from_the_header_when_present() {
    let fake = Fake::start(|seen, _| {
        if seen.path.ends_with("/users") {
            Reply::Full(
                200,
                vec![("x-ms-resource-unit", "7".into())],
                Some(json!({"value": []})),
            )
        } else {
            Reply::Status(204)
        }
    })
    .await;
    let client = client_for(&fake);
    client.send(Request::get("/users")).await.unwrap();
    client
        .send(Request::delete("/applications/1"))
        .await
        .unwrap();
    let stats = client.stats();
    assert_eq!((stats.resource_units, stats.reads, stats.writes), (8, 1, 1));
    client.reset_stats();
    assert_eq!(client.stats().graph_requests, 0);
}
