//! The JSON shapes of the Graph resources appreg reads and writes, named and typed after the
//! Graph v1.0 schema (Edm.Guid as `Uuid`, Edm.DateTimeOffset as UTC timestamps, Edm.Binary as
//! base64 text). Independent of the emulator's types, so a misspelt property cannot hide on both
//! sides.
//!
//! Reading: unknown properties are ignored, and everything but ids is optional, since `$select`
//! trims answers. Writing: `None` is omitted, which in a PATCH keeps the live value; to clear a
//! property send an explicit `null` in a `serde_json::Value` body. Collections that are sent
//! replace the whole live collection (GRAPH.md). `secretText` is a [`Secret`] and is never
//! serialized.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::secret::Secret;

/// `application`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unique_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_in_audience: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier_uris: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web: Option<WebApplication>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spa: Option<SpaApplication>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_client: Option<PublicClientApplication>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_fallback_public_client: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiApplication>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_roles: Option<Vec<AppRole>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional_claims: Option<OptionalClaims>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_membership_claims: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<InformationalUrl>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_resource_access: Option<Vec<RequiredResourceAccess>>,
    /// Read-only through PATCH (GRAPH.md): written with addPassword/removePassword.
    #[serde(skip_serializing)]
    pub password_credentials: Option<Vec<PasswordCredential>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_credentials: Option<Vec<KeyCredential>>,
    #[serde(skip_serializing)]
    pub created_date_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing)]
    pub deleted_date_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing)]
    pub publisher_domain: Option<String>,
}

/// `webApplication`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebApplication {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home_page_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logout_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub implicit_grant_settings: Option<ImplicitGrantSettings>,
}

/// `implicitGrantSettings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImplicitGrantSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_access_token_issuance: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_id_token_issuance: Option<bool>,
}

/// `spaApplication`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpaApplication {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
}

/// `publicClientApplication`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicClientApplication {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
}

/// `apiApplication`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiApplication {
    /// `null` means version 1 (Graph's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_access_token_version: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2_permission_scopes: Option<Vec<PermissionScope>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_authorized_applications: Option<Vec<PreAuthorizedApplication>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_client_applications: Option<Vec<Uuid>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accept_mapped_claims: Option<bool>,
}

/// `permissionScope` (a delegated permission an API exposes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionScope {
    pub id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_enabled: Option<bool>,
    /// `User` or `Admin`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_consent_display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_consent_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_consent_display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_consent_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// `preAuthorizedApplication`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreAuthorizedApplication {
    pub app_id: String,
    /// Permission scope ids, as strings (Edm.String in the schema).
    #[serde(default)]
    pub delegated_permission_ids: Vec<String>,
}

/// `appRole` (an application permission or an assignable role).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRole {
    pub id: Uuid,
    /// `User`, `Application`, or both.
    #[serde(default)]
    pub allowed_member_types: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// `optionalClaims`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionalClaims {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<Vec<OptionalClaim>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<Vec<OptionalClaim>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saml2_token: Option<Vec<OptionalClaim>>,
}

/// `optionalClaim`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionalClaim {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub essential: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_properties: Vec<String>,
}

/// `informationalUrl`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InformationalUrl {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marketing_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privacy_statement_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terms_of_service_url: Option<String>,
    #[serde(skip_serializing)]
    pub logo_url: Option<String>,
}

/// `requiredResourceAccess`: the permissions an app requests from one resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequiredResourceAccess {
    pub resource_app_id: String,
    #[serde(default)]
    pub resource_access: Vec<ResourceAccess>,
}

/// `resourceAccess`: one permission (`Scope` = delegated, `Role` = application).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAccess {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `passwordCredential` (a client secret). `secret_text` is only ever present in the answer of
/// `addPassword`; it is never serialized.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredential {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing)]
    pub hint: Option<String>,
    #[serde(skip_serializing)]
    pub secret_text: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_key_identifier: Option<String>,
}

/// `keyCredential` (a certificate).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyCredential {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `AsymmetricX509Cert`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `Verify`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<String>,
    /// Base64 DER of the certificate; Graph returns it only when selected explicitly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Base64 of the certificate thumbprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_key_identifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date_time: Option<DateTime<Utc>>,
}

/// `servicePrincipal` (the enterprise application).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_role_assignment_required: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_email_addresses: Option<Vec<String>>,
    #[serde(skip_serializing)]
    pub app_roles: Option<Vec<AppRole>>,
    #[serde(skip_serializing)]
    pub oauth2_permission_scopes: Option<Vec<PermissionScope>>,
    #[serde(skip_serializing)]
    pub service_principal_type: Option<String>,
    #[serde(skip_serializing)]
    pub app_owner_organization_id: Option<Uuid>,
}

/// `appRoleAssignment`: an application permission granted to a service principal, or a user or
/// group assigned to an app (role `00000000-...` = default access).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRoleAssignment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub app_role_id: Uuid,
    pub principal_id: Uuid,
    pub resource_id: Uuid,
    #[serde(skip_serializing)]
    pub principal_display_name: Option<String>,
    /// `User`, `Group` or `ServicePrincipal`.
    #[serde(skip_serializing)]
    pub principal_type: Option<String>,
    #[serde(skip_serializing)]
    pub resource_display_name: Option<String>,
    #[serde(skip_serializing)]
    pub created_date_time: Option<DateTime<Utc>>,
}

/// `oAuth2PermissionGrant`: delegated consent. `client_id` and `resource_id` are service
/// principal object ids.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2PermissionGrant {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub client_id: String,
    /// `AllPrincipals` or `Principal`.
    pub consent_type: String,
    /// `None` for `AllPrincipals` (serialized as `null`, which Graph expects).
    pub principal_id: Option<String>,
    pub resource_id: String,
    /// Space-separated scope names.
    pub scope: String,
}

/// `federatedIdentityCredential`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FederatedIdentityCredential {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    pub issuer: String,
    pub subject: String,
    #[serde(default)]
    pub audiences: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `user`, as far as assignments and owners need one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
}

/// `group`, as far as assignments need one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail_nickname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_enabled: Option<bool>,
}

/// `directoryObject`, as in owners lists and deleted items: the id, the concrete type, and the
/// few properties the derived types share that appreg shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryObject {
    pub id: String,
    /// `#microsoft.graph.user`, `#microsoft.graph.servicePrincipal`, ...
    #[serde(rename = "@odata.type", skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(skip_serializing)]
    pub deleted_date_time: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn application_reads_graph_json_and_ignores_unknown_fields() {
        let app: Application = serde_json::from_value(json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#applications/$entity",
            "id": "obj", "appId": "client", "displayName": "CRM", "uniqueName": "crm",
            "signInAudience": "AzureADMyOrg", "tags": ["appreg:managed"], "identifierUris": [],
            "web": {"redirectUris": ["https://x/cb"], "homePageUrl": null,
                    "implicitGrantSettings": {"enableAccessTokenIssuance": false, "enableIdTokenIssuance": false},
                    "redirectUriSettings": []},
            "api": {"requestedAccessTokenVersion": null, "oauth2PermissionScopes": [], "preAuthorizedApplications": []},
            "requiredResourceAccess": [{"resourceAppId": "00000003-0000-0000-c000-000000000000",
                "resourceAccess": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}]}],
            "passwordCredentials": [{"keyId": "8f1b3a1e-4a5e-4c55-9e58-0b9d8c8d1a11", "displayName": "vendor",
                "hint": "abc", "secretText": null, "endDateTime": "2026-01-01T00:00:00Z"}],
            "keyCredentials": [], "somethingNew": {"x": 1}
        }))
        .unwrap();
        assert_eq!(app.unique_name.as_deref(), Some("crm"));
        assert_eq!(
            app.web.unwrap().redirect_uris.unwrap(),
            vec!["https://x/cb"]
        );
        assert_eq!(
            app.required_resource_access.unwrap()[0].resource_access[0].kind,
            "Scope"
        );
        assert_eq!(
            app.password_credentials.unwrap()[0].hint.as_deref(),
            Some("abc")
        );
    }

    #[test]
    fn patch_bodies_carry_only_what_is_set() {
        let body = serde_json::to_value(Application {
            display_name: Some("CRM".into()),
            tags: Some(vec!["appreg:managed".into()]),
            ..Application::default()
        })
        .unwrap();
        assert_eq!(
            body,
            json!({"displayName": "CRM", "tags": ["appreg:managed"]})
        );
    }

    #[test]
    fn secret_text_is_read_but_never_written_or_shown() {
        let cred: PasswordCredential = serde_json::from_value(json!({
            "keyId": "8f1b3a1e-4a5e-4c55-9e58-0b9d8c8d1a11", "displayName": "x", "secretText": "canary-value-123"
        }))
        .unwrap();
        assert_eq!(
            cred.secret_text.as_ref().unwrap().expose(),
            "canary-value-123"
        );
        assert!(!format!("{cred:?}").contains("canary"));
        assert!(!serde_json::to_string(&cred).unwrap().contains("canary"));
    }

    #[test]
    fn grants_send_a_null_principal_for_all_principals() {
        let grant = OAuth2PermissionGrant {
            client_id: "c".into(),
            consent_type: "AllPrincipals".into(),
            resource_id: "r".into(),
            scope: "User.Read".into(),
            ..OAuth2PermissionGrant::default()
        };
        assert_eq!(
            serde_json::to_value(&grant).unwrap()["principalId"],
            serde_json::Value::Null
        );
    }
}
