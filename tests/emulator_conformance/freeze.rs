use std::time::{Duration, Instant};

use appreg::emulator::Faults;
use reqwest::Method;
use serde_json::json;

use crate::support::{Env, urlencode};

/// Long enough for a request the sandbox answers at once, short enough to give up on a held one.
const GIVE_UP: Duration = Duration::from_millis(800);

fn freeze_at(n: u64) -> Faults {
    Faults {
        freeze_after: Some(n),
        ..Faults::default()
    }
}

/// Creates an app through a client that gives up after [`GIVE_UP`]; `None` when no answer came.
async fn create_app(env: &Env, name: &str) -> Option<u16> {
    let client = reqwest::Client::builder().timeout(GIVE_UP).build().unwrap();
    client
        .post(env.url("/applications"))
        .bearer_auth(&env.token)
        .json(&json!({"displayName": name}))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

async fn app_exists(env: &Env, name: &str) -> bool {
    let filter = urlencode(&format!("displayName eq '{name}'"));
    let answer = env.get(&format!("/applications?$filter={filter}")).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    !answer.body["value"].as_array().unwrap().is_empty()
}

#[tokio::test]
async fn the_nth_request_happens_unanswered_and_later_ones_never_happen() {
    let env = Env::start().await;
    let base = env.sandbox.requests_seen();
    assert!(base >= 1, "the token request counted");
    env.sandbox.set_faults(freeze_at(base + 3));
    assert!(!env.sandbox.is_frozen());

    assert_eq!(create_app(&env, "first").await, Some(201));
    assert_eq!(create_app(&env, "second").await, Some(201));
    assert_eq!(
        create_app(&env, "third").await,
        None,
        "the 3rd answer never arrives"
    );
    tokio::time::timeout(Duration::from_secs(5), env.sandbox.frozen())
        .await
        .expect("the freeze point is reached");
    assert!(env.sandbox.is_frozen());
    assert_eq!(
        create_app(&env, "fourth").await,
        None,
        "later requests hang"
    );
    assert_eq!(env.sandbox.requests_seen(), base + 4);

    // Clearing the fault lets new requests through; the held one stays unprocessed.
    env.sandbox.set_faults(Faults::default());
    assert!(
        app_exists(&env, "third").await,
        "the 3rd request's write happened"
    );
    assert!(
        !app_exists(&env, "fourth").await,
        "the 4th request's did not"
    );
    assert!(app_exists(&env, "first").await && app_exists(&env, "second").await);
    let posts = env
        .sandbox
        .request_log()
        .requests
        .iter()
        .filter(|e| e.method == "POST" && e.path == "/v1.0/applications")
        .count();
    assert_eq!(
        posts, 3,
        "the held request was never processed, so never logged"
    );
}

#[tokio::test]
async fn token_and_key_vault_requests_count_too() {
    let env = Env::start().await;
    let base = env.sandbox.requests_seen();
    env.sandbox.set_faults(freeze_at(base + 2));
    // Request 1: a token.
    let token = env.key_vault_token().await;
    // Request 2: a Key Vault write, processed but unanswered.
    let url = format!(
        "{}/secrets/held?api-version=7.5",
        env.sandbox.key_vault_url()
    );
    let client = reqwest::Client::builder().timeout(GIVE_UP).build().unwrap();
    let held = client
        .request(Method::PUT, &url)
        .header(reqwest::header::HOST, "contoso-kv.vault.azure.net")
        .bearer_auth(&token)
        .json(&json!({"value": "delivered"}))
        .send()
        .await;
    assert!(held.is_err(), "no answer: {held:?}");
    tokio::time::timeout(Duration::from_secs(5), env.sandbox.frozen())
        .await
        .expect("frozen");
    assert_eq!(
        env.sandbox
            .key_vault_secret("contoso-kv.vault.azure.net", "held")
            .unwrap()["value"],
        "delivered",
        "the sink holds the value though the client never heard so"
    );
    // Request 3, a Graph read, waits.
    assert_eq!(create_app(&env, "after").await, None);

    env.sandbox.set_faults(Faults::default());
    let read = env
        .vault(
            Some(&token),
            Method::GET,
            "contoso-kv.vault.azure.net",
            "/secrets/held?api-version=7.5",
            None,
        )
        .await;
    assert_eq!(read.status, 200);
    assert!(!app_exists(&env, "after").await);
}

#[tokio::test]
async fn shutdown_resets_held_connections_instead_of_answering() {
    let env = Env::start().await;
    env.sandbox
        .set_faults(freeze_at(env.sandbox.requests_seen() + 1));
    let url = env.url("/applications");
    let token = env.token.clone();
    let held = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .json(&json!({"displayName": "in flight"}))
            .send()
            .await
    });
    tokio::time::timeout(Duration::from_secs(5), env.sandbox.frozen())
        .await
        .expect("frozen");
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(4), env.sandbox.shutdown())
        .await
        .expect("shutdown does not wait on held requests");
    assert!(started.elapsed() < Duration::from_secs(4));
    let outcome = tokio::time::timeout(Duration::from_secs(5), held)
        .await
        .expect("the held client hears something")
        .unwrap();
    assert!(
        outcome.is_err(),
        "a held answer never arrives, even late: {outcome:?}"
    );
}
