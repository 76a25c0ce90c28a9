use std::collections::HashSet;

use reqwest::Method;
use serde_json::json;

use crate::support::{Env, urlencode};

const EVENTUAL: [(&str, &str); 1] = [("ConsistencyLevel", "eventual")];

async fn tagged_apps(env: &Env, count: usize) {
    for i in 0..count {
        let answer = env
            .post(
                "/applications",
                json!({"displayName": format!("paged {i:02}"), "tags": ["appreg:set=paging"]}),
            )
            .await;
        assert_eq!(answer.status, 201);
    }
}

#[tokio::test]
async fn top_and_next_link_page_through_a_filtered_collection() {
    let env = Env::start().await;
    tagged_apps(&env, 25).await;
    let filter = urlencode("tags/any(t:t eq 'appreg:set=paging')");
    let mut url = format!("/applications?$filter={filter}&$top=10&$select=id,displayName");
    let mut seen = HashSet::new();
    let mut pages = Vec::new();
    loop {
        let answer = env.get(&url).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let value = answer.body["value"].as_array().unwrap();
        pages.push(value.len());
        for item in value {
            assert!(
                seen.insert(item["id"].as_str().unwrap().to_string()),
                "no item twice"
            );
            assert_eq!(item.as_object().unwrap().len(), 2);
        }
        match answer.body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(
                    next.contains("$skiptoken=") || next.contains("%24skiptoken="),
                    "{next}"
                );
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, vec![10, 10, 5]);
    assert_eq!(seen.len(), 25);
}

#[tokio::test]
async fn page_size_limits() {
    let env = Env::start().await;
    for top in ["1000", "0", "x"] {
        let answer = env.get(&format!("/applications?$top={top}")).await;
        assert_eq!(answer.status, 400);
        let (code, message) = answer.error();
        assert_eq!(code, "Request_UnsupportedQuery");
        assert_eq!(
            message,
            format!("Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive.")
        );
    }
    assert_eq!(env.get("/applications?$top=999").await.status, 200);
}

#[tokio::test]
async fn unsupported_filters_are_refused_with_graph_wording() {
    let env = Env::start().await;
    let answer = env
        .get(&format!(
            "/applications?$filter={}",
            urlencode("notes eq 'x'")
        ))
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.error(),
        (
            "Request_UnsupportedQuery".into(),
            "Unsupported or invalid query filter clause specified for property 'notes' of resource 'Application'.".into()
        )
    );
    let sixteen: Vec<String> = (0..16).map(|i| format!("'{i}'")).collect();
    let too_many = env
        .get(&format!(
            "/applications?$filter={}",
            urlencode(&format!("appId in ({})", sixteen.join(",")))
        ))
        .await;
    assert_eq!(too_many.status, 400);
    assert!(too_many.error().1.contains("Max allowed: 15"));
    let fifteen = env
        .get(&format!(
            "/applications?$filter={}",
            urlencode(&format!("appId in ({})", sixteen[..15].join(",")))
        ))
        .await;
    assert_eq!(fifteen.status, 200);
    let ends = env
        .get(&format!(
            "/applications?$filter={}",
            urlencode("endswith(displayName,'x')")
        ))
        .await;
    assert_eq!(ends.status, 400);
    assert!(
        ends.error()
            .1
            .starts_with("Operator 'endsWith' is not supported")
    );
}

#[tokio::test]
async fn filter_clauses_graph_supports() {
    let env = Env::start().await;
    let a = env
        .post(
            "/applications",
            json!({"displayName": "Alpha", "identifierUris": ["api://alpha"]}),
        )
        .await
        .body;
    env.post(
        "/applications",
        json!({"displayName": "Beta", "signInAudience": "AzureADMultipleOrgs"}),
    )
    .await;
    let count = |filter: &str| {
        let url = format!("/applications?$filter={}", urlencode(filter));
        let env = &env;
        async move {
            let answer = env.get(&url).await;
            assert_eq!(answer.status, 200, "{}", answer.text);
            answer.body["value"].as_array().unwrap().len()
        }
    };
    assert_eq!(
        count(&format!("appId eq '{}'", a["appId"].as_str().unwrap())).await,
        1
    );
    assert_eq!(
        count("displayName eq 'alpha'").await,
        1,
        "string comparison ignores case"
    );
    assert_eq!(count("startswith(displayName,'Al')").await, 1);
    assert_eq!(count("displayName in ('Alpha','Beta')").await, 2);
    assert_eq!(count("identifierUris/any(x:x eq 'api://alpha')").await, 1);
    assert_eq!(count("signInAudience eq 'AzureADMultipleOrgs'").await, 1);
    assert_eq!(
        count("displayName eq 'Alpha' or displayName eq 'Beta'").await,
        2
    );
}

#[tokio::test]
async fn advanced_queries_need_eventual_consistency() {
    let env = Env::start().await;
    env.app("Alpha").await;
    env.app("Beta").await;
    let ne = format!(
        "/applications?$filter={}&$count=true",
        urlencode("displayName ne 'Alpha'")
    );
    let refused = env.get(&ne).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(refused.error().1.starts_with(
        "Operator 'ne' is not supported because the required parameters might be missing."
    ));
    let answered = env.call(Method::GET, &ne, None, &EVENTUAL).await;
    assert_eq!(answered.status, 200, "{}", answered.text);
    assert_eq!(
        answered.body["@odata.count"],
        json!(answered.body["value"].as_array().unwrap().len())
    );
    assert!(
        answered.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["displayName"] != "Alpha")
    );

    // Graph ignores `$count=true` without the header: the page, and no count.
    // <https://learn.microsoft.com/en-us/graph/aad-advanced-queries>
    let ignored = env.get("/applications?$count=true").await;
    assert_eq!(ignored.status, 200, "{}", ignored.text);
    assert!(
        ignored.body.get("@odata.count").is_none(),
        "{}",
        ignored.text
    );
    assert_eq!(
        env.get("/applications?$orderby=displayName").await.status,
        400
    );
    let ordered = env
        .call(
            Method::GET,
            "/applications?$orderby=displayName desc&$count=true",
            None,
            &EVENTUAL,
        )
        .await;
    assert_eq!(ordered.status, 200, "{}", ordered.text);
    let names: Vec<&str> = ordered.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["displayName"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| std::cmp::Reverse(n.to_lowercase()));
    assert_eq!(names, sorted);

    let search = "/applications?$search=%22displayName:alp%22&$count=true";
    assert_eq!(env.get(search).await.status, 400);
    let searched = env.call(Method::GET, search, None, &EVENTUAL).await;
    assert_eq!(
        searched.body["value"].as_array().unwrap().len(),
        1,
        "{}",
        searched.text
    );

    let counted = env
        .call(Method::GET, "/applications/$count", None, &EVENTUAL)
        .await;
    assert_eq!(counted.status, 200);
    assert_eq!(counted.text, "3", "two created plus the admin app");
}

#[tokio::test]
async fn select_and_expand() {
    let env = Env::start().await;
    env.app("x").await;
    let unknown = env.get("/applications?$select=colour").await;
    assert_eq!(unknown.status, 400);
    assert_eq!(
        unknown.error().1,
        "Could not find a property named 'colour' on type 'microsoft.graph.application'."
    );
    // Checked before the query runs: a filter that matches nothing does not excuse it.
    let nothing = env
        .get("/applications?$filter=displayName eq 'no such app'&$select=id,colour")
        .await;
    assert_eq!(nothing.status, 400, "{}", nothing.text);
    let expanded = env
        .get("/applications?$expand=owners&$select=id,displayName")
        .await;
    assert_eq!(expanded.status, 200, "{}", expanded.text);
    assert!(expanded.body["value"][0]["owners"].is_array());
    assert!(
        expanded.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#applications(id,displayName)")
    );
    let refused = env.get("/applications?$expand=extensionProperties").await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.error().0, "Request_UnsupportedQuery");
}

/// Follows `@odata.nextLink` from `url` to the end; between pages `between` may change the
/// tenant. Returns the ids of every page, in order.
async fn page_ids(env: &Env, url: String, mut between: impl AsyncFnMut(usize)) -> Vec<Vec<String>> {
    let mut url = url;
    let mut pages = Vec::new();
    loop {
        let answer = env.get(&url).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let ids: Vec<String> = answer.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap().to_string())
            .collect();
        pages.push(ids);
        match answer.body["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => return pages,
        }
        between(pages.len()).await;
    }
}

#[tokio::test]
async fn a_page_cursor_stays_complete_while_objects_come_and_go() {
    let env = Env::start().await;
    tagged_apps(&env, 25).await;
    let filter = urlencode("tags/any(t:t eq 'appreg:set=paging')");
    let url = format!("/applications?$filter={filter}&$top=10&$select=id");
    let before: Vec<String> = page_ids(&env, url.clone(), async |_| {}).await.concat();
    assert_eq!(before.len(), 25);
    let mut sorted = before.clone();
    sorted.sort();
    assert_eq!(before, sorted, "pages list in id order");

    // After the first page: one app already listed and one not yet listed are deleted, and three
    // new ones are added.
    let (gone_seen, gone_unseen) = (before[3].clone(), before[17].clone());
    let pages = page_ids(&env, url, async |done| {
        if done == 1 {
            for id in [&gone_seen, &gone_unseen] {
                assert_eq!(env.delete(&format!("/applications/{id}")).await.status, 204);
            }
            tagged_apps(&env, 3).await;
        }
    })
    .await;
    let listed = pages.concat();
    let unique: HashSet<&String> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "no app twice: {pages:?}");
    assert!(
        !listed.contains(&gone_unseen),
        "a deleted app is not listed later"
    );
    for id in before.iter().filter(|id| **id != gone_unseen) {
        assert!(listed.contains(id), "{id}, there throughout, is listed");
    }
    // Pages continue after the last id listed: whatever is listed after the first page is later.
    assert!(pages[1..].concat().iter().all(|id| *id > pages[0][9]));
}

#[tokio::test]
async fn pages_of_an_in_filter_and_of_a_prefix_filter_follow_the_key_order() {
    let env = Env::start().await;
    let mut tagged = Vec::new();
    for (i, tag) in ["red", "blue", "green", "red", "blue", "green", "red"]
        .iter()
        .enumerate()
    {
        let answer = env
            .post(
                "/applications",
                json!({"displayName": format!("colour {i}"), "tags": [tag]}),
            )
            .await;
        assert_eq!(answer.status, 201);
        if *tag != "green" {
            tagged.push(answer.body["id"].as_str().unwrap().to_string());
        }
    }
    tagged.sort();
    // Several index sets (one per name), merged.
    let filter =
        urlencode("displayName in ('colour 0','COLOUR 1','colour 3','colour 4','colour 6')");
    let url = format!("/applications?$filter={filter}&$top=2&$select=id");
    let pages = page_ids(&env, url, async |_| {}).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    assert_eq!(pages.concat(), tagged);
    // A prefix spans several index sets; an exact page size ends without a next link.
    let filter = urlencode("startswith(displayName,'colour')");
    let url = format!("/applications?$filter={filter}&$top=7&$select=id");
    let pages = page_ids(&env, url, async |_| {}).await;
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].len(), 7);
}
