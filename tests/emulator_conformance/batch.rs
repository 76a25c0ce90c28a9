use serde_json::{Value, json};

use crate::support::{Env, urlencode};

fn by_id<'a>(answer: &'a Value, id: &str) -> &'a Value {
    answer["responses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap()
}

#[tokio::test]
async fn batch_runs_items_with_dependencies() {
    let env = Env::start().await;
    let filter = urlencode("displayName eq 'batched'");
    let answer = env
        .post(
            "/$batch",
            json!({"requests": [
                {"id": "1", "method": "POST", "url": "/applications", "headers": {"Content-Type": "application/json"}, "body": {"displayName": "batched"}},
                {"id": "2", "method": "GET", "url": format!("/applications?$filter={filter}"), "dependsOn": ["1"]},
                {"id": "3", "method": "GET", "url": "/applications/00000000-0000-4000-8000-000000000000"},
                {"id": "4", "method": "GET", "url": "/organization", "dependsOn": ["3"]},
                {"id": "5", "method": "POST", "url": "/applications", "body": {"displayName": "no content type"}}
            ]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = &answer.body;
    assert_eq!(by_id(body, "1")["status"], 201);
    assert_eq!(by_id(body, "1")["body"]["displayName"], "batched");
    assert!(
        by_id(body, "1")["headers"]["Content-Type"]
            .as_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(by_id(body, "2")["status"], 200);
    assert_eq!(
        by_id(body, "2")["body"]["value"].as_array().unwrap().len(),
        1
    );
    assert_eq!(by_id(body, "3")["status"], 404);
    assert_eq!(
        by_id(body, "3")["body"]["error"]["code"],
        "Request_ResourceNotFound"
    );
    assert_eq!(
        by_id(body, "4")["status"],
        424,
        "a failed dependency fails its dependants"
    );
    assert_eq!(
        by_id(body, "5")["status"],
        400,
        "a body needs a Content-Type header"
    );

    let log = env.sandbox.request_log();
    assert_eq!(log.counters.http_requests, 1);
    assert_eq!(log.counters.batch_items, 5);
    assert_eq!(log.counters.graph_requests, 5);
    assert_eq!(
        log.counters.writes, 2,
        "the POST that ran and the refused one both count as writes"
    );
    let items: Vec<_> = log
        .requests
        .iter()
        .filter(|e| e.batch_item_id.is_some())
        .collect();
    assert_eq!(items.len(), 5);
    assert!(items.iter().all(|e| e.batch_seq.is_some()));
}

#[tokio::test]
async fn batch_limits_and_envelope_errors() {
    let env = Env::start().await;
    let request =
        |id: usize| json!({"id": id.to_string(), "method": "GET", "url": "/organization"});
    let too_many: Vec<Value> = (0..21).map(request).collect();
    let answer = env.post("/$batch", json!({"requests": too_many})).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.error().0, "BadRequest");
    let twenty: Vec<Value> = (0..20).map(request).collect();
    assert_eq!(
        env.post("/$batch", json!({"requests": twenty}))
            .await
            .status,
        200
    );
    let duplicate = env
        .post("/$batch", json!({"requests": [request(1), request(1)]}))
        .await;
    assert_eq!(duplicate.status, 400);
    let forward = env.post("/$batch", json!({"requests": [{"id": "1", "method": "GET", "url": "/organization", "dependsOn": ["2"]}, request(2)]})).await;
    assert_eq!(forward.status, 400);
    assert_eq!(env.post("/$batch", json!({"nope": []})).await.status, 400);
}

#[tokio::test]
async fn batch_answers_arrive_in_any_order() {
    let env = Env::start().await;
    let requests: Vec<Value> = (0..20)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/organization"}))
        .collect();
    let answer = env.post("/$batch", json!({"requests": requests})).await;
    let order: Vec<String> = answer.body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    assert_ne!(
        order, expected,
        "clients must match answers by id, not position"
    );
    let mut sorted = order.clone();
    sorted.sort_by_key(|s| s.parse::<u32>().unwrap());
    assert_eq!(sorted, expected);
}

/// A batch item answers with the very body the same request gets on its own: pages, single
/// reads and sub-collections (the sandbox writes these straight to bytes, and a batch envelope
/// embeds them as they are).
#[tokio::test]
async fn batch_items_answer_what_the_same_requests_answer_alone() {
    let env = Env::start().await;
    let mut ids = Vec::new();
    for name in ["paged-a", "paged-b", "paged-c"] {
        let (app, sp) = env.app_with_sp(name).await;
        let id = app["id"].as_str().unwrap().to_string();
        let tagged = env
            .patch(
                &format!("/applications/{id}"),
                json!({"tags": ["batch-page", name]}),
            )
            .await;
        assert_eq!(tagged.status, 204, "{}", tagged.text);
        env.add_password(&id).await;
        ids.push((id, sp["id"].as_str().unwrap().to_string()));
    }
    let (app, sp) = &ids[0];
    let tags = urlencode("tags/any(t:t eq 'batch-page')");
    let urls = [
        format!("/applications?$filter={tags}&$expand=owners&$top=2"),
        format!("/servicePrincipals?$filter={tags}&$select=id,appId,tags"),
        format!("/applications/{app}"),
        format!("/applications/{app}?$select=keyCredentials,passwordCredentials,displayName"),
        format!("/servicePrincipals/{sp}"),
        format!("/servicePrincipals/{sp}/appRoleAssignedTo"),
        format!("/applications/{app}/federatedIdentityCredentials"),
    ];
    let requests: Vec<Value> = urls
        .iter()
        .enumerate()
        .map(|(i, url)| json!({"id": i.to_string(), "method": "GET", "url": url}))
        .collect();
    let batch = env.post("/$batch", json!({"requests": requests})).await;
    assert_eq!(batch.status, 200, "{}", batch.text);
    for (i, url) in urls.iter().enumerate() {
        let alone = env.get(url).await;
        assert_eq!(alone.status, 200, "{url}: {}", alone.text);
        let item = by_id(&batch.body, &i.to_string());
        assert_eq!(item["status"], 200, "{url}");
        assert_eq!(item["body"], alone.body, "{url}");
    }
    // The first page is full and says where the next one starts.
    let page = &by_id(&batch.body, "0")["body"];
    assert_eq!(page["value"].as_array().unwrap().len(), 2);
    assert!(page["@odata.nextLink"].as_str().is_some());
}
