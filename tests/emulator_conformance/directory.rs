use serde_json::json;

use crate::support::{Env, urlencode};

#[tokio::test]
async fn users_by_id_upn_and_filters() {
    let env = Env::start().await;
    let filter = urlencode("displayName eq 'Conor O''Brien'");
    let found = env.get(&format!("/users?$filter={filter}")).await;
    assert_eq!(found.status, 200, "{}", found.text);
    let users = found.body["value"].as_array().unwrap();
    assert_eq!(
        users.len(),
        1,
        "a quote doubled inside a literal is one quote"
    );
    let user = &users[0];
    assert_eq!(user["surname"], "O'Brien");
    assert!(
        user.get("accountEnabled").is_none(),
        "users come back with Graph's default property set"
    );
    let upn = user["userPrincipalName"].as_str().unwrap();
    assert_eq!(
        env.get(&format!("/users/{upn}")).await.body["id"],
        user["id"]
    );
    assert_eq!(
        env.get(&format!("/users/{}", user["id"].as_str().unwrap()))
            .await
            .status,
        200
    );
    let selected = env
        .get(&format!(
            "/users/{}?$select=accountEnabled,userType",
            user["id"].as_str().unwrap()
        ))
        .await
        .body;
    assert_eq!(selected["accountEnabled"], true);
    let by_upn = env
        .get(&format!(
            "/users?$filter={}",
            urlencode(&format!("userPrincipalName eq '{upn}'"))
        ))
        .await;
    assert_eq!(by_upn.body["value"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn filter_literals_cannot_inject_clauses() {
    let env = Env::start().await;
    let sneaky = urlencode("displayName eq 'x'' or 1 eq 1 or displayName eq ''y'");
    let answer = env.get(&format!("/users?$filter={sneaky}")).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.body["value"],
        json!([]),
        "the whole text is one literal that matches nobody"
    );
    let unbalanced = env
        .get(&format!(
            "/users?$filter={}",
            urlencode("displayName eq 'x' or 1 eq 1")
        ))
        .await;
    assert_eq!(
        unbalanced.status, 400,
        "an unquoted clause is refused, not evaluated"
    );
}

#[tokio::test]
async fn groups_directory_objects_and_organization() {
    let env = Env::start().await;
    let groups = env
        .get(&format!(
            "/groups?$filter={}",
            urlencode("displayName eq 'Odoo mail senders'")
        ))
        .await;
    assert_eq!(groups.status, 200);
    let group = &groups.body["value"][0];
    assert_eq!(group["securityEnabled"], true);
    let id = group["id"].as_str().unwrap();
    assert_eq!(
        env.get(&format!("/groups/{id}")).await.body["displayName"],
        "Odoo mail senders"
    );
    let object = env.get(&format!("/directoryObjects/{id}")).await;
    assert_eq!(object.body["@odata.type"], "#microsoft.graph.group");
    let org = env.get("/organization").await;
    assert_eq!(org.body["value"][0]["id"], env.sandbox.tenant_id());
}
