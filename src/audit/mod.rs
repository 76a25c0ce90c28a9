//! `appreg audit`: every app registration and service principal of a tenant, managed by appreg or
//! not, judged by the rule catalogue under a policy.
//!
//! Why it exists: forgotten secrets and over-privileged apps live in the apps nobody manages as
//! code. The audit reads whole collections in bulk (`$select`, pages of 999, owners expanded in
//! the same page), never one request per app, so a tenant of 10,000 apps costs a few dozen round
//! trips: applications, service principals, delegated grants, the application-permission
//! assignments of each resource that publishes app roles, and the verified domains.
//!
//! What it must never do: write to the tenant, or read a secret value (Graph never returns one;
//! credentials are read as metadata: name, key id and dates).

pub mod check;
pub mod report;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use crate::graph::{GraphClient, GraphError, Request};

/// Largest page Graph serves for these collections.
const PAGE: &str = "999";

/// The tenant as the audit sees it.
#[derive(Debug, Default)]
pub struct Tenant {
    pub applications: Vec<Application>,
    pub service_principals: Vec<ServicePrincipal>,
    pub grants: Vec<DelegatedGrant>,
    pub assignments: Vec<RoleAssignment>,
    pub verified_domains: Vec<String>,
}

/// Collections that Graph may send as `null`.
fn list<T>(items: &Option<Vec<T>>) -> &[T] {
    items.as_deref().unwrap_or_default()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    pub id: String,
    pub app_id: Uuid,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub unique_name: Option<String>,
    #[serde(default)]
    pub sign_in_audience: Option<String>,
    #[serde(default)]
    pub password_credentials: Option<Vec<Credential>>,
    #[serde(default)]
    pub key_credentials: Option<Vec<Credential>>,
    #[serde(default)]
    pub web: Option<Web>,
    #[serde(default)]
    pub spa: Option<Platform>,
    #[serde(default)]
    pub public_client: Option<Platform>,
    #[serde(default)]
    pub required_resource_access: Option<Vec<RequiredResource>>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub owners: Option<Vec<serde_json::Value>>,
}

impl Application {
    pub fn secrets(&self) -> &[Credential] {
        list(&self.password_credentials)
    }
    pub fn certificates(&self) -> &[Credential] {
        list(&self.key_credentials)
    }
    pub fn tags(&self) -> &[String] {
        list(&self.tags)
    }
    pub fn owner_count(&self) -> usize {
        list(&self.owners).len()
    }
    pub fn required(&self) -> &[RequiredResource] {
        list(&self.required_resource_access)
    }
    /// Every redirect URI with its platform.
    pub fn redirect_uris(&self) -> Vec<(&'static str, &str)> {
        let mut out = Vec::new();
        for (platform, uris) in [
            ("web", self.web.as_ref().map(|w| list(&w.redirect_uris))),
            ("spa", self.spa.as_ref().map(|p| list(&p.redirect_uris))),
            (
                "publicClient",
                self.public_client.as_ref().map(|p| list(&p.redirect_uris)),
            ),
        ] {
            out.extend(
                uris.unwrap_or_default()
                    .iter()
                    .map(|u| (platform, u.as_str())),
            );
        }
        out
    }
    /// The ownership set of an app appreg manages (`appreg:set=<name>` tag).
    pub fn managed_by(&self) -> Option<&str> {
        self.tags()
            .iter()
            .find_map(|t| t.strip_prefix("appreg:set="))
    }
}

/// A secret's or certificate's metadata; Graph never returns a secret's value on reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    #[serde(default)]
    pub key_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub start_date_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub end_date_time: Option<DateTime<Utc>>,
}

impl Credential {
    /// What a report calls it: its name, else its key id.
    pub fn name(&self) -> String {
        self.display_name
            .clone()
            .filter(|n| !n.is_empty())
            .or_else(|| self.key_id.clone())
            .unwrap_or_else(|| "(unnamed)".into())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Web {
    #[serde(default)]
    pub redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    pub implicit_grant_settings: Option<ImplicitGrantSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImplicitGrantSettings {
    #[serde(default)]
    pub enable_access_token_issuance: Option<bool>,
    #[serde(default)]
    pub enable_id_token_issuance: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Platform {
    #[serde(default)]
    pub redirect_uris: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequiredResource {
    pub resource_app_id: Uuid,
    #[serde(default)]
    pub resource_access: Option<Vec<ResourceAccess>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ResourceAccess {
    pub id: Uuid,
    /// `Role` (application permission) or `Scope` (delegated).
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    pub id: String,
    pub app_id: Uuid,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub app_owner_organization_id: Option<String>,
    #[serde(default)]
    pub password_credentials: Option<Vec<Credential>>,
    #[serde(default)]
    pub app_roles: Option<Vec<Published>>,
    #[serde(default)]
    pub oauth2_permission_scopes: Option<Vec<Published>>,
}

impl ServicePrincipal {
    pub fn secrets(&self) -> &[Credential] {
        list(&self.password_credentials)
    }
    pub fn app_roles(&self) -> &[Published] {
        list(&self.app_roles)
    }
    pub fn scopes(&self) -> &[Published] {
        list(&self.oauth2_permission_scopes)
    }
}

/// An app role or delegated scope a resource publishes.
#[derive(Debug, Clone, Deserialize)]
pub struct Published {
    pub id: Uuid,
    #[serde(default)]
    pub value: Option<String>,
}

/// A delegated permission grant (`oauth2PermissionGrant`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelegatedGrant {
    pub client_id: String,
    pub resource_id: String,
    #[serde(default)]
    pub scope: Option<String>,
}

/// An app role assigned to a principal: for a service principal, a granted application
/// permission.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    pub principal_id: String,
    pub resource_id: String,
    pub app_role_id: Uuid,
}

/// One page of app role assignments, as a `$batch` item answers it.
#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    value: Vec<RoleAssignment>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
}

/// Reads everything the rules need, in bulk.
pub async fn read(client: &GraphClient) -> Result<Tenant, GraphError> {
    let applications: Vec<Application> = client
        .list(
            Request::get("/applications")
                .query(
                    "$select",
                    "id,appId,displayName,uniqueName,signInAudience,passwordCredentials,keyCredentials,web,spa,publicClient,requiredResourceAccess,tags",
                )
                .query("$expand", "owners($select=id)")
                .query("$top", PAGE),
        )
        .await?;
    let service_principals: Vec<ServicePrincipal> = client
        .list(
            Request::get("/servicePrincipals")
                .query(
                    "$select",
                    "id,appId,displayName,appOwnerOrganizationId,passwordCredentials,appRoles,oauth2PermissionScopes",
                )
                .query("$top", PAGE),
        )
        .await?;
    let grants: Vec<DelegatedGrant> = client
        .list(Request::get("/oauth2PermissionGrants").query("$top", PAGE))
        .await?;
    // Application permissions are app roles assigned to the client; Graph lists them per
    // resource, so only resources that publish app roles are read, their first pages twenty to
    // a `$batch` (a tenant where many apps publish roles stays far below one round trip per
    // app), further pages by their nextLink.
    let resources: Vec<&ServicePrincipal> = service_principals
        .iter()
        .filter(|sp| !sp.app_roles().is_empty())
        .collect();
    let first_pages = client
        .batch(
            resources
                .iter()
                .map(|r| {
                    Request::get(format!("/servicePrincipals/{}/appRoleAssignedTo", r.id))
                        .query("$top", PAGE)
                })
                .collect(),
        )
        .await;
    let mut assignments = Vec::new();
    for (answer, resource) in first_pages.into_iter().zip(&resources) {
        let body = answer?.body.unwrap_or_default();
        let page: Page = serde_json::from_value(body).map_err(|e| GraphError::Decode {
            method: crate::graph::Method::Get,
            path: format!("/servicePrincipals/{}/appRoleAssignedTo", resource.id),
            reason: e.to_string(),
        })?;
        assignments.extend(page.value);
        if let Some(next) = page.next_link {
            assignments.extend(client.list::<RoleAssignment>(Request::get(next)).await?);
        }
    }
    let verified_domains = crate::engine::domains::verified_domains(client).await?;
    Ok(Tenant {
        applications,
        service_principals,
        grants,
        assignments,
        verified_domains,
    })
}
