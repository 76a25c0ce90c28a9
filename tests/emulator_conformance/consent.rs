use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use uuid::Uuid;

use crate::support::{Env, urlencode};

fn le(id: &str) -> [u8; 16] {
    Uuid::parse_str(id).unwrap().to_bytes_le()
}

#[tokio::test]
async fn app_role_assignments_from_both_sides() {
    let env = Env::start().await;
    let (_, sp) = env.app_with_sp("mailer").await;
    let graph = env.graph_sp().await;
    let (sp_id, graph_id) = (sp["id"].as_str().unwrap(), graph["id"].as_str().unwrap());
    let mail_send = "b633e1c5-b582-4048-a93e-9f11b44c7e96";
    let body = json!({"principalId": sp_id, "resourceId": graph_id, "appRoleId": mail_send});
    let created = env
        .post(
            &format!("/servicePrincipals/{graph_id}/appRoleAssignedTo"),
            body.clone(),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let assignment = &created.body;
    let id = assignment["id"].as_str().unwrap();
    assert_eq!(id.len(), 43);
    assert_eq!(
        &URL_SAFE_NO_PAD.decode(id).unwrap()[..16],
        &le(sp_id),
        "ids start with principalId in little-endian order"
    );
    assert_eq!(assignment["principalType"], "ServicePrincipal");
    assert_eq!(assignment["principalDisplayName"], "mailer");
    assert_eq!(assignment["resourceDisplayName"], "Microsoft Graph");
    assert!(assignment["createdDateTime"].is_string());
    assert!(
        assignment["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with(&format!(
                "servicePrincipals('{graph_id}')/appRoleAssignedTo/$entity"
            ))
    );

    let duplicate = env
        .post(
            &format!("/servicePrincipals/{graph_id}/appRoleAssignedTo"),
            body,
        )
        .await;
    assert_eq!(duplicate.status, 400);
    assert_eq!(
        duplicate.error().1,
        "Permission being assigned already exists on the object."
    );

    let filter = urlencode(&format!("principalId eq {sp_id}"));
    let from_resource = env
        .get(&format!(
            "/servicePrincipals/{graph_id}/appRoleAssignedTo?$filter={filter}"
        ))
        .await;
    assert_eq!(from_resource.status, 200, "{}", from_resource.text);
    assert_eq!(from_resource.body["value"].as_array().unwrap().len(), 1);
    let filter = urlencode(&format!("resourceId eq {graph_id}"));
    let from_principal = env
        .get(&format!(
            "/servicePrincipals/{sp_id}/appRoleAssignments?$filter={filter}"
        ))
        .await;
    assert_eq!(from_principal.body["value"][0]["id"], id);

    let missing_role = env
        .post(
            &format!("/servicePrincipals/{graph_id}/appRoleAssignedTo"),
            json!({"principalId": sp_id, "resourceId": graph_id, "appRoleId": Uuid::new_v4()}),
        )
        .await;
    assert_eq!(missing_role.status, 400);
    let missing_principal = env
        .post(
            &format!("/servicePrincipals/{graph_id}/appRoleAssignedTo"),
            json!({"principalId": Uuid::new_v4(), "resourceId": graph_id, "appRoleId": mail_send}),
        )
        .await;
    assert_eq!(missing_principal.status, 404);

    assert_eq!(
        env.delete(&format!(
            "/servicePrincipals/{graph_id}/appRoleAssignedTo/{id}"
        ))
        .await
        .status,
        204
    );
    assert_eq!(
        env.delete(&format!(
            "/servicePrincipals/{graph_id}/appRoleAssignedTo/{id}"
        ))
        .await
        .status,
        404
    );
}

#[tokio::test]
async fn users_and_groups_get_default_access() {
    let env = Env::start().await;
    let (_, sp) = env.app_with_sp("odoo").await;
    let sp_id = sp["id"].as_str().unwrap();
    let user = env.user("Mail Sender").await;
    let group = env
        .get(&format!(
            "/groups?$filter={}",
            urlencode("displayName eq 'Odoo mail senders'")
        ))
        .await
        .body["value"][0]
        .clone();
    for (principal, kind) in [(&user, "User"), (&group, "Group")] {
        let answer = env
            .post(&format!("/servicePrincipals/{sp_id}/appRoleAssignedTo"), json!({"principalId": principal["id"], "resourceId": sp_id, "appRoleId": Uuid::nil()}))
            .await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        assert_eq!(answer.body["principalType"], kind);
    }
    let assignments = env
        .get(&format!(
            "/users/{}/appRoleAssignments",
            user["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(assignments.body["value"].as_array().unwrap().len(), 1);
    let list = env
        .get(&format!("/servicePrincipals/{sp_id}/appRoleAssignedTo"))
        .await;
    assert_eq!(list.body["value"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn oauth2_permission_grants() {
    let env = Env::start().await;
    let (_, sp) = env.app_with_sp("erp").await;
    let graph = env.graph_sp().await;
    let (client, resource) = (sp["id"].as_str().unwrap(), graph["id"].as_str().unwrap());
    let body = json!({"clientId": client, "consentType": "AllPrincipals", "principalId": null, "resourceId": resource, "scope": "User.Read Contacts.ReadWrite"});
    let created = env.post("/oauth2PermissionGrants", body.clone()).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_string();
    let expected: Vec<u8> = le(client).into_iter().chain(le(resource)).collect();
    assert_eq!(id, URL_SAFE_NO_PAD.encode(expected));
    assert!(
        created.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#oauth2PermissionGrants/$entity")
    );
    assert_eq!(env.post("/oauth2PermissionGrants", body).await.status, 409);

    let filter = urlencode(&format!(
        "clientId eq '{client}' and resourceId eq '{resource}'"
    ));
    let listed = env
        .get(&format!("/oauth2PermissionGrants?$filter={filter}"))
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(
        env.get(&format!(
            "/servicePrincipals/{client}/oauth2PermissionGrants"
        ))
        .await
        .body["value"][0]["id"],
        id
    );

    assert_eq!(
        env.patch(
            &format!("/oauth2PermissionGrants/{id}"),
            json!({"scope": "User.Read"})
        )
        .await
        .status,
        204
    );
    assert_eq!(
        env.get(&format!("/oauth2PermissionGrants/{id}")).await.body["scope"],
        "User.Read"
    );
    assert_eq!(
        env.patch(
            &format!("/oauth2PermissionGrants/{id}"),
            json!({"clientId": resource})
        )
        .await
        .status,
        400
    );

    let user = env.user("Adele Vance").await;
    let personal = env
        .post("/oauth2PermissionGrants", json!({"clientId": client, "consentType": "Principal", "principalId": user["id"], "resourceId": resource, "scope": "User.Read"}))
        .await;
    assert_eq!(personal.status, 201, "{}", personal.text);
    assert_eq!(personal.body["id"].as_str().unwrap().len(), 64);
    let unsupported = env
        .get(&format!(
            "/oauth2PermissionGrants?$filter={}",
            urlencode("scope eq 'User.Read'")
        ))
        .await;
    assert_eq!(unsupported.status, 400);

    assert_eq!(
        env.delete(&format!("/oauth2PermissionGrants/{id}"))
            .await
            .status,
        204
    );
    assert_eq!(
        env.get(&format!("/oauth2PermissionGrants/{id}"))
            .await
            .status,
        404
    );
}
