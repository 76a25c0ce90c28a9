use reqwest::Method;
use serde_json::json;

use crate::support::{Env, GRAPH_APP_ID};

#[tokio::test]
async fn create_read_update_delete() {
    let env = Env::start().await;
    let app = env
        .post(
            "/applications",
            json!({"displayName": "crm", "tags": ["appreg:managed"]}),
        )
        .await
        .body;
    let app_id = app["appId"].as_str().unwrap();
    let created = env
        .post("/servicePrincipals", json!({"appId": app_id}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let sp = &created.body;
    assert!(
        sp["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#servicePrincipals/$entity")
    );
    assert_eq!(sp["accountEnabled"], true);
    assert_eq!(sp["appRoleAssignmentRequired"], false);
    assert_eq!(sp["servicePrincipalNames"], json!([app_id]));
    assert_eq!(sp["appDisplayName"], "crm");
    assert_eq!(sp["servicePrincipalType"], "Application");
    assert_eq!(sp["appOwnerOrganizationId"], env.sandbox.tenant_id());
    assert_eq!(
        sp["tags"],
        json!(["appreg:managed"]),
        "tags include the application's"
    );

    let again = env
        .post("/servicePrincipals", json!({"appId": app_id}))
        .await;
    assert_eq!(again.status, 409);

    let by_app_id = env
        .get(&format!("/servicePrincipals(appId='{app_id}')"))
        .await;
    assert_eq!(by_app_id.status, 200);
    assert_eq!(by_app_id.body["id"], sp["id"]);

    let path = format!("/servicePrincipals/{}", sp["id"].as_str().unwrap());
    assert_eq!(
        env.patch(
            &path,
            json!({"tags": ["HideApp"], "appRoleAssignmentRequired": true})
        )
        .await
        .status,
        204
    );
    let read = env.get(&path).await.body;
    assert_eq!(read["tags"], json!(["HideApp", "appreg:managed"]));
    assert_eq!(read["appRoleAssignmentRequired"], true);
    assert_eq!(
        env.patch(
            &format!("/applications/{}", app["id"].as_str().unwrap()),
            json!({"displayName": "crm sync"})
        )
        .await
        .status,
        204
    );
    assert_eq!(
        env.get(&path).await.body["appDisplayName"],
        "crm sync",
        "the principal mirrors its application"
    );

    assert_eq!(env.delete(&path).await.status, 204);
    assert_eq!(env.get(&path).await.status, 404);
    let deleted = env
        .get("/directory/deletedItems/microsoft.graph.servicePrincipal")
        .await;
    assert_eq!(deleted.body["value"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_principal_needs_a_backing_application() {
    let env = Env::start().await;
    let app_id = "2b2b2b2b-0000-4000-8000-000000000000";
    let answer = env
        .post("/servicePrincipals", json!({"appId": app_id}))
        .await;
    assert_eq!(answer.status, 400);
    let (code, message) = answer.error();
    assert_eq!(code, "Request_BadRequest");
    assert_eq!(
        message,
        format!(
            "The appId '{app_id}' of the service principal does not reference a valid application object."
        )
    );
    assert_eq!(
        answer.body["error"]["details"][0]["code"],
        "NoBackingApplicationObject"
    );
}

#[tokio::test]
async fn upsert_by_app_id() {
    let env = Env::start().await;
    let app = env.app("upserted").await;
    let path = format!(
        "/servicePrincipals(appId='{}')",
        app["appId"].as_str().unwrap()
    );
    let prefer = [("Prefer", "create-if-missing")];
    assert_eq!(
        env.patch(&path, json!({"appRoleAssignmentRequired": true}))
            .await
            .status,
        404
    );
    let created = env
        .call(
            Method::PATCH,
            &path,
            Some(json!({"appRoleAssignmentRequired": true})),
            &prefer,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["appRoleAssignmentRequired"], true);
    let again = env
        .call(Method::PATCH, &path, Some(json!({"notes": "x"})), &prefer)
        .await;
    assert_eq!(again.status, 204);
}

#[tokio::test]
async fn first_party_principals_are_seeded_with_permissions() {
    let env = Env::start().await;
    let graph = env.graph_sp().await;
    assert_eq!(graph["displayName"], "Microsoft Graph");
    let role = graph["appRoles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["value"] == "Application.ReadWrite.All")
        .unwrap();
    assert_eq!(role["id"], "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9");
    assert_eq!(role["allowedMemberTypes"], json!(["Application"]));
    let scope = graph["oauth2PermissionScopes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["value"] == "User.Read")
        .unwrap();
    assert_eq!(scope["id"], "e1fe6dd8-ba31-4d61-89e7-88639da4683d");
    assert_eq!(scope["type"], "User");
    for app_id in [
        GRAPH_APP_ID,
        "00000002-0000-0ff1-ce00-000000000000",
        "00000003-0000-0ff1-ce00-000000000000",
        "00000002-0000-0000-c000-000000000000",
    ] {
        let answer = env
            .get(&format!(
                "/servicePrincipals(appId='{app_id}')?$select=id,displayName,appId"
            ))
            .await;
        assert_eq!(answer.status, 200, "{app_id}");
    }
}
