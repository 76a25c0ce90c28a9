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
