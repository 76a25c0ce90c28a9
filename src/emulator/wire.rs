//! The emulator's own JSON shapes: each resource's full v1.0 property set with Graph's defaults.
//!
//! Property names follow the v1.0 CSDL (reference/msgraph-metadata/v1.0-Prod.csdl). These shapes
//! are written independently of appreg's Graph client on purpose: a misspelt field must not hide on
//! both sides. Stream properties (`logo`) and navigation properties are never part of a read.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::store::Kind;

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Graph's timestamp format for directory objects: UTC, whole seconds, `Z`.
pub fn timestamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A new application as `POST /applications` answers it before the request body is applied.
pub fn application(
    id: Uuid,
    app_id: Uuid,
    publisher_domain: &str,
    created_by: Option<&str>,
    now_ms: i64,
) -> Map<String, Value> {
    object(json!({
        "id": id.to_string(),
        "deletedDateTime": null,
        "appId": app_id.to_string(),
        "applicationTemplateId": null,
        "disabledByMicrosoftStatus": null,
        "createdDateTime": timestamp(now_ms),
        "createdByAppId": created_by,
        "defaultRedirectUri": null,
        "description": null,
        "displayName": null,
        "groupMembershipClaims": null,
        "identifierUris": [],
        "isDeviceOnlyAuthSupported": null,
        "isDisabled": null,
        "isFallbackPublicClient": null,
        "managerApplications": [],
        "nativeAuthenticationApisEnabled": null,
        "notes": null,
        "oauth2RequirePostResponse": false,
        "publisherDomain": publisher_domain,
        "samlMetadataUrl": null,
        "serviceManagementReference": null,
        "signInAudience": "AzureADMyOrg",
        "tags": [],
        "tokenEncryptionKeyId": null,
        "uniqueName": null,
        "addIns": [],
        "api": {
            "acceptMappedClaims": null,
            "knownClientApplications": [],
            "requestedAccessTokenVersion": null,
            "oauth2PermissionScopes": [],
            "preAuthorizedApplications": []
        },
        "appRoles": [],
        "certification": null,
        "info": informational_url(),
        "keyCredentials": [],
        "optionalClaims": null,
        "parentalControlSettings": {"countriesBlockedForMinors": [], "legalAgeGroupRule": "Allow"},
        "passwordCredentials": [],
        "publicClient": {"redirectUris": []},
        "requestSignatureVerification": null,
        "requiredResourceAccess": [],
        "servicePrincipalLockConfiguration": {
            "isEnabled": true,
            "allProperties": true,
            "credentialsWithUsageVerify": true,
            "credentialsWithUsageSign": true,
            "tokenEncryptionKeyId": true
        },
        "spa": {"redirectUris": []},
        "verifiedPublisher": {"displayName": null, "verifiedPublisherId": null, "addedDateTime": null},
        "web": {
            "homePageUrl": null,
            "logoutUrl": null,
            "redirectUris": [],
            "implicitGrantSettings": {"enableAccessTokenIssuance": false, "enableIdTokenIssuance": false},
            "redirectUriSettings": []
        }
    }))
}

fn informational_url() -> Value {
    json!({
        "logoUrl": null,
        "marketingUrl": null,
        "privacyStatementUrl": null,
        "supportUrl": null,
        "termsOfServiceUrl": null
    })
}

/// A new service principal for `app_id`; the properties it mirrors from its application are filled
/// in by the caller.
pub fn service_principal(
    id: Uuid,
    app_id: &str,
    owner_tenant: Uuid,
    created_by: Option<&str>,
) -> Map<String, Value> {
    // servicePrincipal has no createdDateTime in v1.0 (unlike application).
    object(json!({
        "id": id.to_string(),
        "deletedDateTime": null,
        "accountEnabled": true,
        "alternativeNames": [],
        "appDescription": null,
        "appDisplayName": null,
        "appId": app_id,
        "applicationTemplateId": null,
        "appOwnerOrganizationId": owner_tenant.to_string(),
        "appRoleAssignmentRequired": false,
        "createdByAppId": created_by,
        "description": null,
        "disabledByMicrosoftStatus": null,
        "displayName": null,
        "homepage": null,
        "isDisabled": null,
        "loginUrl": null,
        "logoutUrl": null,
        "notes": null,
        "notificationEmailAddresses": [],
        "preferredSingleSignOnMode": null,
        "preferredTokenSigningKeyThumbprint": null,
        "replyUrls": [],
        "servicePrincipalNames": [app_id],
        "servicePrincipalType": "Application",
        "signInAudience": "AzureADMyOrg",
        "tags": [],
        "tokenEncryptionKeyId": null,
        "samlSingleSignOnSettings": null,
        "addIns": [],
        "appRoles": [],
        "info": informational_url(),
        "keyCredentials": [],
        "oauth2PermissionScopes": [],
        "passwordCredentials": [],
        "resourceSpecificApplicationPermissions": [],
        "verifiedPublisher": {"displayName": null, "verifiedPublisherId": null, "addedDateTime": null}
    }))
}

/// A seeded user. Reads return [`USER_DEFAULT_PROPERTIES`] unless `$select` asks for more.
pub fn user(
    id: Uuid,
    display_name: &str,
    given: &str,
    surname: &str,
    upn: &str,
    now_ms: i64,
) -> Map<String, Value> {
    let nickname = upn.split('@').next().unwrap_or(upn);
    object(json!({
        "id": id.to_string(),
        "businessPhones": [],
        "displayName": display_name,
        "givenName": given,
        "jobTitle": null,
        "mail": upn,
        "mobilePhone": null,
        "officeLocation": null,
        "preferredLanguage": "en-US",
        "surname": surname,
        "userPrincipalName": upn,
        "accountEnabled": true,
        "createdDateTime": timestamp(now_ms),
        "deletedDateTime": null,
        "department": null,
        "companyName": null,
        "employeeId": null,
        "mailNickname": nickname,
        "otherMails": [],
        "proxyAddresses": [format!("SMTP:{upn}")],
        "usageLocation": "US",
        "userType": "Member"
    }))
}

/// Properties a user read returns without `$select` (Graph's default set for users).
pub const USER_DEFAULT_PROPERTIES: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

/// A seeded security group.
pub fn group(
    id: Uuid,
    display_name: &str,
    nickname: &str,
    description: &str,
    now_ms: i64,
) -> Map<String, Value> {
    object(json!({
        "id": id.to_string(),
        "deletedDateTime": null,
        "classification": null,
        "createdDateTime": timestamp(now_ms),
        "description": description,
        "displayName": display_name,
        "expirationDateTime": null,
        "groupTypes": [],
        "isAssignableToRole": null,
        "mail": null,
        "mailEnabled": false,
        "mailNickname": nickname,
        "membershipRule": null,
        "membershipRuleProcessingState": null,
        "onPremisesDomainName": null,
        "onPremisesLastSyncDateTime": null,
        "onPremisesNetBiosName": null,
        "onPremisesSamAccountName": null,
        "onPremisesSecurityIdentifier": null,
        "onPremisesSyncEnabled": null,
        "preferredDataLocation": null,
        "preferredLanguage": null,
        "proxyAddresses": [],
        "renewedDateTime": timestamp(now_ms),
        "resourceBehaviorOptions": [],
        "resourceProvisioningOptions": [],
        "securityEnabled": true,
        "securityIdentifier": format!("S-1-12-1-{}", id.as_u128() % 4_294_967_296),
        "theme": null,
        "uniqueName": null,
        "visibility": null,
        "onPremisesProvisioningErrors": [],
        "serviceProvisioningErrors": []
    }))
}

/// Properties each kind answers to in `$select` and accepts in writes, beyond its stored ones.
pub fn select_only_properties(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Application => &["authenticationBehaviors"],
        Kind::ServicePrincipal => &["customSecurityAttributes"],
        Kind::User | Kind::Group => &[],
    }
}

/// A password credential as reads show it (never with its secretText).
pub fn password_credential(
    key_id: Uuid,
    display_name: Option<&str>,
    hint: &str,
    start: &str,
    end: &str,
) -> Map<String, Value> {
    object(json!({
        "customKeyIdentifier": null,
        "displayName": display_name,
        "endDateTime": end,
        "hint": hint,
        "keyId": key_id.to_string(),
        "secretText": null,
        "startDateTime": start
    }))
}

/// Builds the `@odata.context` URL of an answer.
pub fn context(graph_url: &str, fragment: &str) -> String {
    format!("{graph_url}/$metadata#{fragment}")
}

/// `@odata.type` value of a directory object.
pub fn odata_type(kind: Kind) -> String {
    format!("#{}", kind.type_name())
}

/// JSON-pointer lookup on an object (`/web/redirectUris`).
pub fn pointer<'a>(object: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let rest = path.strip_prefix('/')?;
    let (first, tail) = rest.split_once('/').map_or((rest, ""), |(a, b)| (a, b));
    let value = object.get(first)?;
    if tail.is_empty() {
        Some(value)
    } else {
        value.pointer(&format!("/{tail}"))
    }
}
