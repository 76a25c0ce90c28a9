use serde_json::{Value, json};

use crate::support::{Env, into_answer};

#[tokio::test]
async fn request_log_over_http_and_rust() {
    let env = Env::start().await;
    let app = env.app("logged").await;
    let secret = env.add_password(app["id"].as_str().unwrap()).await["secretText"]
        .as_str()
        .unwrap()
        .to_string();
    env.get("/applications?$top=5").await;
    let url = format!("{}/_sandbox/requests", env.sandbox.authority_url());
    let answer = into_answer(
        env.http
            .get(&url)
            .bearer_auth(&env.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert!(
        !answer.text.contains(&secret),
        "secrets never reach the log"
    );
    assert!(
        !answer.text.contains(&env.token),
        "tokens never reach the log"
    );
    let requests = answer.body["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 3);
    let first = &requests[0];
    assert_eq!(first["method"], "POST");
    assert_eq!(first["path"], "/v1.0/applications");
    assert_eq!(first["status"], 201);
    assert_eq!(first["kind"], "graph");
    assert!(first["latencyMs"].as_f64().is_some());
    assert!(first["timestamp"].is_string());
    assert_eq!(requests[2]["path"], "/v1.0/applications?$top=5");
    let counters: &Value = &answer.body["counters"];
    assert_eq!(counters["httpRequests"], 3);
    assert_eq!(counters["graphRequests"], 3);
    assert_eq!(counters["writes"], 2);
    assert_eq!(counters["byStatus"], json!({"200": 2, "201": 1}));
    assert_eq!(env.sandbox.request_log().requests.len(), 3);

    let cleared = env
        .http
        .delete(&url)
        .bearer_auth(&env.token)
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 204);
    assert!(env.sandbox.request_log().requests.is_empty());
    env.get("/organization").await;
    env.sandbox.clear_log();
    assert_eq!(env.sandbox.request_log().counters.http_requests, 0);
}

/// The log shows every request made of the tenant, and clearing it hides them: only the admin app
/// may do either (finding 14 of issue 11).
#[tokio::test]
async fn request_log_answers_only_the_admin_app() {
    let env = Env::start().await;
    let (app, _) = env.app_with_sp("other").await;
    let secret = env.add_password(app["id"].as_str().unwrap()).await["secretText"]
        .as_str()
        .unwrap()
        .to_string();
    let other = env.token_for(app["appId"].as_str().unwrap(), &secret).await;
    let url = format!("{}/_sandbox/requests", env.sandbox.authority_url());
    let seen = env.sandbox.request_log().requests.len();
    assert!(seen > 0);
    // Each case: method, token, expected status, why.
    let cases: [(reqwest::Method, Option<&str>, u16, &str); 5] = [
        (reqwest::Method::GET, None, 401, "no token"),
        (
            reqwest::Method::GET,
            Some("not-a-token"),
            401,
            "a made-up token",
        ),
        (
            reqwest::Method::GET,
            Some(&other),
            403,
            "another app of the tenant",
        ),
        (
            reqwest::Method::DELETE,
            None,
            401,
            "clearing without a token",
        ),
        (
            reqwest::Method::DELETE,
            Some(&other),
            403,
            "clearing as another app",
        ),
    ];
    for (method, token, status, why) in cases {
        let mut request = env.http.request(method, &url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let answer = into_answer(request.send().await.unwrap()).await;
        assert_eq!(answer.status, status, "{why}: {}", answer.text);
        assert!(
            !answer.text.contains("\"requests\""),
            "{why}: {}",
            answer.text
        );
    }
    assert_eq!(
        env.sandbox.request_log().requests.len(),
        seen,
        "nothing was cleared, and control requests are not logged"
    );
}
