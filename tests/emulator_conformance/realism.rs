use std::time::{Duration, Instant};

use appreg::emulator::{Faults, SandboxConfig};
use reqwest::Method;
use serde_json::json;

use crate::support::{Env, urlencode};

fn lag(ms: u64) -> Faults {
    Faults {
        replication_lag: Duration::from_millis(ms),
        ..Faults::default()
    }
}

#[tokio::test]
async fn replication_lag_hides_new_objects_from_reads() {
    let env = Env::with_faults(lag(800)).await;
    let app = env.app("fresh").await;
    let id = app["id"].as_str().unwrap();
    let read = env.get(&format!("/applications/{id}")).await;
    assert_eq!(
        read.status, 404,
        "a just-created object is not readable yet"
    );
    assert_eq!(read.error().0, "Request_ResourceNotFound");
    assert_eq!(
        env.patch(&format!("/applications/{id}"), json!({"notes": "x"}))
            .await
            .status,
        404
    );
    let sp = env
        .post("/servicePrincipals", json!({"appId": app["appId"]}))
        .await;
    assert_eq!(sp.status, 400);
    assert_eq!(
        sp.body["error"]["details"][0]["code"],
        "NoBackingApplicationObject"
    );
    let listed = env
        .get(&format!(
            "/applications?$filter={}",
            urlencode("displayName eq 'fresh'")
        ))
        .await;
    assert_eq!(listed.body["value"], json!([]));

    let prefer = [("Prefer", "create-if-missing")];
    let upsert = env
        .call(
            Method::PATCH,
            "/applications(uniqueName='lagging')",
            Some(json!({"displayName": "lagging"})),
            &prefer,
        )
        .await;
    assert_eq!(upsert.status, 201);
    let repeat = env
        .call(
            Method::PATCH,
            "/applications(uniqueName='lagging')",
            Some(json!({"displayName": "lagging"})),
            &prefer,
        )
        .await;
    assert_eq!(
        repeat.status, 204,
        "the upsert sees the unreplicated app, so repeating it never duplicates"
    );

    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(env.get(&format!("/applications/{id}")).await.status, 200);
    assert_eq!(
        env.post("/servicePrincipals", json!({"appId": app["appId"]}))
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn new_secrets_replicate_late() {
    let env = Env::start().await;
    let (app, _) = env.app_with_sp("late").await;
    env.sandbox.set_faults(lag(400));
    tokio::time::sleep(Duration::from_millis(450)).await;
    let credential = env.add_password(app["id"].as_str().unwrap()).await;
    let read = env
        .get(&format!("/applications/{}", app["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        read.body["passwordCredentials"],
        json!([]),
        "new credentials appear in reads late"
    );
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", app["appId"].as_str().unwrap()),
        ("client_secret", credential["secretText"].as_str().unwrap()),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    assert_eq!(env.token_request(&form).await.status, 401);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(env.token_request(&form).await.status, 200);
}

#[tokio::test]
async fn throttling_by_probability() {
    let env = Env::with_faults(Faults {
        throttle_probability: 1.0,
        retry_after: Duration::from_millis(1500),
        ..Faults::default()
    })
    .await;
    let answer = env.get("/applications").await;
    assert_eq!(answer.status, 429);
    assert_eq!(answer.header("retry-after"), Some("1.5"));
    assert!(
        answer
            .header("x-ms-throttle-scope")
            .unwrap()
            .starts_with("Tenant_Application/")
    );
    assert_eq!(
        answer.header("x-ms-throttle-information"),
        Some("ThrottleLimitExceeded")
    );
    assert_eq!(answer.error().0, "TooManyRequests");
    let batch = env
        .post(
            "/$batch",
            json!({"requests": [{"id": "1", "method": "GET", "url": "/organization"}]}),
        )
        .await;
    assert_eq!(
        batch.status, 200,
        "the envelope is not throttled, its items are"
    );
    assert_eq!(batch.body["responses"][0]["status"], 429);
    assert_eq!(batch.body["responses"][0]["headers"]["Retry-After"], "1.5");
    assert_eq!(env.sandbox.request_log().counters.throttled, 2);
}

#[tokio::test]
async fn resource_unit_budget_per_ten_seconds() {
    let env = Env::with_faults(Faults {
        resource_unit_budget: Some(5),
        ..Faults::default()
    })
    .await;
    let first = env.get("/applications").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-ms-resource-unit"), Some("2"));
    assert_eq!(env.get("/applications").await.status, 200);
    let refused = env.get("/applications").await;
    assert_eq!(refused.status, 429, "2 + 2 + 2 units exceed a budget of 5");
    let wait: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=10).contains(&wait));
    assert_eq!(
        refused.header("x-ms-throttle-information"),
        Some("ResourceUnitLimitExceeded")
    );
    let cheap = env.get("/applications?$select=id").await;
    assert_eq!(cheap.status, 200, "$select costs one unit less");
    assert_eq!(cheap.header("x-ms-resource-unit"), Some("1"));
    assert_eq!(env.get("/organization").await.status, 429);
}

#[tokio::test]
async fn server_errors_by_probability() {
    let env = Env::with_faults(Faults {
        server_error_probability: 1.0,
        ..Faults::default()
    })
    .await;
    let answer = env.get("/applications").await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.header("retry-after"), Some("1"));
    answer.error();
}

#[tokio::test]
async fn page_size_cap() {
    let env = Env::with_faults(Faults {
        page_size_cap: Some(2),
        ..Faults::default()
    })
    .await;
    for i in 0..3 {
        env.app(&format!("capped {i}")).await;
    }
    let answer = env.get("/applications?$top=999").await;
    assert_eq!(answer.body["value"].as_array().unwrap().len(), 2);
    assert!(answer.body["@odata.nextLink"].is_string());
}

#[tokio::test]
async fn latency_slow_answers_and_connection_resets() {
    let env = Env::with_faults(Faults {
        latency: Duration::from_millis(150),
        ..Faults::default()
    })
    .await;
    let started = Instant::now();
    assert_eq!(env.get("/organization").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));

    env.sandbox.set_faults(Faults {
        slow_probability: 1.0,
        slow_delay: Duration::from_millis(800),
        ..Faults::default()
    });
    let slow = env
        .http
        .get(env.url("/organization"))
        .bearer_auth(&env.token)
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(slow.unwrap_err().is_timeout());

    env.sandbox.set_faults(Faults {
        reset_probability: 1.0,
        ..Faults::default()
    });
    let reset = env
        .http
        .post(env.url("/applications"))
        .bearer_auth(&env.token)
        .json(&json!({"displayName": "ambiguous"}))
        .send()
        .await;
    assert!(
        reset.is_err(),
        "the connection is reset before an answer arrives"
    );
    env.sandbox.set_faults(Faults::default());
    let listed = env
        .get(&format!(
            "/applications?$filter={}",
            urlencode("displayName eq 'ambiguous'")
        ))
        .await;
    assert_eq!(
        listed.body["value"].as_array().unwrap().len(),
        1,
        "the write happened although its answer was lost"
    );
}

#[tokio::test]
async fn state_persists_across_restarts_and_survives_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".appreg/sandbox.json");
    let config = SandboxConfig {
        state_file: Some(state.clone()),
        ..SandboxConfig::default()
    };
    let env = Env::with(config.clone()).await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let http = env.http.clone();
        let url = env.url("/applications");
        let token = env.token.clone();
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .bearer_auth(token)
                .json(&json!({"displayName": format!("concurrent {i}")}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 201);
    }
    let secret = env.sandbox.admin_client_secret().to_string();
    env.sandbox.shutdown().await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&state).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let again = Env::with(config).await;
    assert_eq!(again.sandbox.admin_client_secret(), secret);
    let listed = again
        .get(&format!(
            "/applications?$filter={}",
            urlencode("startswith(displayName,'concurrent')")
        ))
        .await;
    assert_eq!(listed.body["value"].as_array().unwrap().len(), 16);
}
