use reqwest::Method;
use serde_json::json;

use crate::support::{Env, urlencode};

#[tokio::test]
async fn create_answers_201_with_graph_defaults() {
    let env = Env::start().await;
    let answer = env
        .post("/applications", json!({"displayName": "CRM calendar sync"}))
        .await;
    assert_eq!(answer.status, 201);
    let app = &answer.body;
    assert!(
        app["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/$metadata#applications/$entity")
    );
    assert!(uuid::Uuid::parse_str(app["id"].as_str().unwrap()).is_ok());
    assert!(uuid::Uuid::parse_str(app["appId"].as_str().unwrap()).is_ok());
    assert_eq!(app["signInAudience"], "AzureADMyOrg");
    assert_eq!(app["identifierUris"], json!([]));
    assert_eq!(app["tags"], json!([]));
    assert_eq!(app["web"]["redirectUris"], json!([]));
    assert_eq!(
        app["web"]["implicitGrantSettings"],
        json!({"enableAccessTokenIssuance": false, "enableIdTokenIssuance": false})
    );
    assert_eq!(app["api"]["requestedAccessTokenVersion"], json!(null));
    assert_eq!(app["passwordCredentials"], json!([]));
    assert_eq!(app["keyCredentials"], json!([]));
    assert_eq!(app["requiredResourceAccess"], json!([]));
    assert_eq!(app["uniqueName"], json!(null));
    assert_eq!(app["createdByAppId"], env.sandbox.admin_client_id());
    assert!(
        app.get("logo").is_none(),
        "stream properties are never in a read"
    );
    assert!(
        app.get("owners").is_none(),
        "navigation properties only with $expand"
    );
    // The answer is the object as a read shows it: no select-only property either.
    assert!(app.get("authenticationBehaviors").is_none());
    let read = env
        .get(&format!("/applications/{}", app["id"].as_str().unwrap()))
        .await;
    assert_eq!(read.status, 200, "{}", read.text);
    let without_context = |v: &serde_json::Value| {
        let mut object = v.as_object().unwrap().clone();
        object.remove("@odata.context");
        object
    };
    assert_eq!(without_context(app), without_context(&read.body));
}

#[tokio::test]
async fn create_needs_a_display_name() {
    let env = Env::start().await;
    let answer = env.post("/applications", json!({"notes": "x"})).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.error().0, "Request_BadRequest");
}

#[tokio::test]
async fn read_by_id_app_id_and_unique_name() {
    let env = Env::start().await;
    let created = env
        .post(
            "/applications",
            json!({"displayName": "a", "uniqueName": "crm-sync"}),
        )
        .await
        .body;
    for path in [
        format!("/applications/{}", created["id"].as_str().unwrap()),
        format!(
            "/applications(appId='{}')",
            created["appId"].as_str().unwrap()
        ),
        "/applications(uniqueName='crm-sync')".to_string(),
        "/applications(uniqueName=%27crm-sync%27)".to_string(),
    ] {
        let answer = env.get(&path).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
        assert_eq!(answer.body["id"], created["id"]);
    }
    let selected = env
        .get(&format!(
            "/applications/{}?$select=displayName,appId",
            created["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        selected.body.as_object().unwrap().len(),
        3,
        "{}",
        selected.text
    );
    assert!(
        selected.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#applications(displayName,appId)/$entity")
    );
}

#[tokio::test]
async fn missing_and_malformed_ids() {
    let env = Env::start().await;
    let id = "9c0a6a3e-0000-4000-8000-000000000001";
    let answer = env.get(&format!("/applications/{id}")).await;
    assert_eq!(answer.status, 404);
    assert_eq!(
        answer.error(),
        (
            "Request_ResourceNotFound".into(),
            format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            )
        )
    );
    let answer = env.get("/applications/not-a-guid").await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.error().1, "Invalid object identifier 'not-a-guid'.");
    let answer = env.get("/applicationz").await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.error(),
        (
            "BadRequest".into(),
            "Resource not found for the segment 'applicationz'.".into()
        )
    );
}

#[tokio::test]
async fn patch_merges_complex_values_and_replaces_collections() {
    let env = Env::start().await;
    let app = env.app("a").await;
    let path = format!("/applications/{}", app["id"].as_str().unwrap());
    let answer = env.patch(&path, json!({"web": {"redirectUris": ["https://a.example.com/cb", "https://b.example.com/cb"], "implicitGrantSettings": {"enableIdTokenIssuance": true}}})).await;
    assert_eq!(answer.status, 204, "{}", answer.text);
    assert_eq!(answer.text, "");
    let answer = env
        .patch(
            &path,
            json!({"web": {"redirectUris": ["https://c.example.com/cb"]}, "notes": "n"}),
        )
        .await;
    assert_eq!(answer.status, 204);
    let read = env.get(&path).await.body;
    assert_eq!(
        read["web"]["redirectUris"],
        json!(["https://c.example.com/cb"]),
        "collections are replaced"
    );
    assert_eq!(
        read["web"]["implicitGrantSettings"]["enableIdTokenIssuance"],
        json!(true),
        "omitted values are kept"
    );
    assert_eq!(read["notes"], "n");
    assert_eq!(read["displayName"], "a");
}

#[tokio::test]
async fn patch_refuses_what_graph_refuses() {
    let env = Env::start().await;
    let app = env.app("a").await;
    let path = format!("/applications/{}", app["id"].as_str().unwrap());
    for (body, fragment) in [
        (
            json!({"passwordCredentials": [{"displayName": "x"}]}),
            "read-only",
        ),
        (json!({"colour": "red"}), "does not exist"),
        (
            json!({"web": {"redirectUris": ["http://crm.example.com/cb"]}}),
            "web.redirectUris",
        ),
        (
            json!({"signInAudience": "AzureADandPersonalMicrosoftAccount"}),
            "api.requestedAccessTokenVersion",
        ),
        (json!({"tags": ["has space"]}), "tags"),
    ] {
        let answer = env.patch(&path, body.clone()).await;
        assert_eq!(answer.status, 400, "{body}");
        assert!(
            answer.error().1.contains(fragment),
            "{body}: {}",
            answer.text
        );
    }
    let ok = env.patch(&path, json!({"signInAudience": "AzureADandPersonalMicrosoftAccount", "api": {"requestedAccessTokenVersion": 2}})).await;
    assert_eq!(ok.status, 204, "{}", ok.text);
}

#[tokio::test]
async fn identifier_uris_are_unique() {
    let env = Env::start().await;
    let first = env.app("a").await;
    let second = env.app("b").await;
    let uri = json!({"identifierUris": ["api://contoso/crm"]});
    assert_eq!(
        env.patch(
            &format!("/applications/{}", first["id"].as_str().unwrap()),
            uri.clone()
        )
        .await
        .status,
        204
    );
    let answer = env
        .patch(
            &format!("/applications/{}", second["id"].as_str().unwrap()),
            uri,
        )
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.error().1,
        "Another object with the same value for property identifierUris already exists."
    );
    assert_eq!(answer.body["error"]["details"][0]["code"], "ObjectConflict");
}

#[tokio::test]
async fn enabled_app_roles_must_be_disabled_before_removal() {
    let env = Env::start().await;
    let app = env.app("a").await;
    let path = format!("/applications/{}", app["id"].as_str().unwrap());
    let role = json!({"id": "0b5bd0a8-7a3b-4b1e-9d1a-8f1a2b3c4d5e", "allowedMemberTypes": ["User"], "description": "d", "displayName": "Reader", "isEnabled": true, "value": "Reader"});
    assert_eq!(
        env.patch(&path, json!({"appRoles": [role.clone()]}))
            .await
            .status,
        204
    );
    let answer = env.patch(&path, json!({"appRoles": []})).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.body["error"]["details"][0]["code"],
        "CannotDeleteOrUpdateEnabledEntitlement"
    );
    let mut disabled = role;
    disabled["isEnabled"] = json!(false);
    assert_eq!(
        env.patch(&path, json!({"appRoles": [disabled]}))
            .await
            .status,
        204
    );
    assert_eq!(env.patch(&path, json!({"appRoles": []})).await.status, 204);
}

#[tokio::test]
async fn upsert_by_unique_name() {
    let env = Env::start().await;
    let path = "/applications(uniqueName='odoo-outlook')";
    let prefer = [("Prefer", "create-if-missing")];
    let missing = env
        .call(
            Method::PATCH,
            path,
            Some(json!({"displayName": "Odoo"})),
            &[],
        )
        .await;
    assert_eq!(
        missing.status, 404,
        "without the Prefer header a missing app is 404"
    );
    let created = env
        .call(
            Method::PATCH,
            path,
            Some(json!({"displayName": "Odoo"})),
            &prefer,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["uniqueName"], "odoo-outlook");
    assert_eq!(created.body["displayName"], "Odoo");
    let updated = env
        .call(
            Method::PATCH,
            path,
            Some(json!({"displayName": "Odoo mail"})),
            &prefer,
        )
        .await;
    assert_eq!(updated.status, 204);
    let list = env
        .get(&format!(
            "/applications?$filter={}",
            urlencode("uniqueName eq 'odoo-outlook'")
        ))
        .await;
    assert_eq!(
        list.body["value"].as_array().unwrap().len(),
        1,
        "repeating the upsert never duplicates"
    );
    assert_eq!(list.body["value"][0]["displayName"], "Odoo mail");
    let immutable = env.patch(path, json!({"uniqueName": "other"})).await;
    assert_eq!(immutable.status, 400);
}

#[tokio::test]
async fn delete_restore_and_purge() {
    let env = Env::start().await;
    let (app, sp) = env.app_with_sp("doomed").await;
    let id = app["id"].as_str().unwrap();
    assert_eq!(env.delete(&format!("/applications/{id}")).await.status, 204);
    assert_eq!(env.get(&format!("/applications/{id}")).await.status, 404);
    assert_eq!(
        env.get(&format!(
            "/servicePrincipals/{}",
            sp["id"].as_str().unwrap()
        ))
        .await
        .status,
        404,
        "the principal goes with its app"
    );
    let deleted = env
        .get("/directory/deletedItems/microsoft.graph.application")
        .await;
    assert_eq!(deleted.status, 200);
    assert!(
        deleted.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#directory/deletedItems/microsoft.graph.application")
    );
    let entry = deleted.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .unwrap();
    assert!(entry["deletedDateTime"].is_string());
    let untyped = env.get("/directory/deletedItems").await;
    assert_eq!(untyped.status, 400);
    let restored = env
        .post(&format!("/directory/deletedItems/{id}/restore"), json!({}))
        .await;
    assert_eq!(restored.status, 200, "{}", restored.text);
    assert_eq!(restored.body["@odata.type"], "#microsoft.graph.application");
    assert_eq!(restored.body["deletedDateTime"], json!(null));
    assert_eq!(env.get(&format!("/applications/{id}")).await.status, 200);
    assert_eq!(env.delete(&format!("/applications/{id}")).await.status, 204);
    assert_eq!(
        env.delete(&format!("/directory/deletedItems/{id}"))
            .await
            .status,
        204
    );
    assert_eq!(
        env.post(&format!("/directory/deletedItems/{id}/restore"), json!({}))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn owners_add_list_remove() {
    let env = Env::start().await;
    let app = env.app("owned").await;
    let id = app["id"].as_str().unwrap();
    let owners = env.get(&format!("/applications/{id}/owners")).await;
    assert_eq!(owners.status, 200);
    let creator = &owners.body["value"][0];
    assert_eq!(
        creator["@odata.type"], "#microsoft.graph.servicePrincipal",
        "the app-only creator becomes an owner"
    );
    let user = env.user("Adele Vance").await;
    let user_id = user["id"].as_str().unwrap();
    let reference = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{user_id}")});
    assert_eq!(
        env.post(
            &format!("/applications/{id}/owners/$ref"),
            reference.clone()
        )
        .await
        .status,
        204
    );
    let duplicate = env
        .post(&format!("/applications/{id}/owners/$ref"), reference)
        .await;
    assert_eq!(duplicate.status, 400);
    assert_eq!(
        duplicate.error().1,
        "One or more added object references already exist for the following modified properties: 'owners'."
    );
    let expanded = env.get(&format!("/applications/{id}?$expand=owners")).await;
    let kinds: Vec<&str> = expanded.body["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["@odata.type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"#microsoft.graph.user"),
        "{}",
        expanded.text
    );
    assert_eq!(
        env.delete(&format!("/applications/{id}/owners/{user_id}/$ref"))
            .await
            .status,
        204
    );
    assert_eq!(
        env.delete(&format!("/applications/{id}/owners/{user_id}/$ref"))
            .await
            .status,
        404
    );
    let bound = env
        .post("/applications", json!({"displayName": "bound", "owners@odata.bind": [format!("https://graph.microsoft.com/v1.0/users/{user_id}")]}))
        .await;
    assert_eq!(bound.status, 201, "{}", bound.text);
    let owners = env
        .get(&format!(
            "/applications/{}/owners",
            bound.body["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(owners.body["value"].as_array().unwrap().len(), 2);
}
