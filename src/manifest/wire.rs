//! The manifest as it is written in YAML: serde + schemars types, one per YAML mapping.
//!
//! These types are the file format and nothing else. They derive the JSON Schema that editors and the
//! loader's structural check use, and they are translated once into the domain model (`crate::model`)
//! by `lower`. Field names mirror Microsoft Graph property names wherever Graph has one.
//!
//! Rules that a JSON Schema cannot express well (URI rules, audience-dependent limits, permission names)
//! live in `validate`, not here.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One manifest file. Several files merge into one manifest: `apps` are united, `name`, `tenant` and
/// `prune` must agree where more than one file states them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "appreg manifest")]
pub struct ManifestFile {
    /// Manifest format version. Always 1.
    #[schemars(range(min = 1, max = 1))]
    pub version: u32,
    /// Ownership set: the apps this manifest manages carry the tag `appreg:set=<name>`, and `--prune`
    /// deletes only apps of this set. Lowercase letters, digits, `-`, `_` and `.`: Graph compares
    /// tags without regard to case, so `FINANCE` and `finance` must not be two sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[a-z0-9._-]+$"))]
    pub name: Option<String>,
    /// Directory (tenant) id or a verified domain. `--tenant` and `AZURE_TENANT_ID` override it; with
    /// none at all appreg targets the local sandbox tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Delete apps of this set that are no longer in the manifest (same as `apply --prune`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
    /// App registrations, keyed by a stable key that becomes the application's uniqueName.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub apps: BTreeMap<String, App>,
    // No doc comment: schemars would wrap the reference in `allOf` (see `Acknowledgement`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
}

/// Guardrails for the apps of this manifest (see docs/rules.md): the rules' levels, findings
/// allowed with a justification, and the limits the rules check against. A manifest with a
/// `policy:` section is also checked by the rules on credentials, owners, redirects and tags;
/// `appreg audit --policy FILE` reads the same section.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    /// A production set: localhost redirect URIs are findings (`localhost-redirect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production: Option<bool>,
    /// Longest lifetime a client secret may have (`secret-lifetime`). Default 365d.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_secret_lifetime: Option<String>,
    /// Longest a secret may stay unreplaced (`secret-not-rotated`, audit). Default 180d.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_secret_age: Option<String>,
    /// How soon before expiry a credential is reported (`secret-expiring`,
    /// `certificate-expiring`, audit). Default 30d.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_warning: Option<String>,
    /// Every app must name an owner: `no-owner` becomes an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_owners: Option<bool>,
    /// Tags every app must carry, each exactly or as `<tag>=<value>` (`missing-tag`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_tags: Vec<String>,
    /// Level per rule id: `off`, `warning` or `error`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rules: BTreeMap<String, PolicyLevel>,
    /// Findings accepted on purpose, each with a justification.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<Allowance>,
}

/// A rule's level under a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PolicyLevel {
    Off,
    Warning,
    Error,
}

/// A finding accepted on purpose: the rule, the app, optionally what exactly (a permission,
/// host or credential the finding names), and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Allowance {
    /// A rule id of docs/rules.md.
    #[schemars(length(min = 1))]
    pub rule: String,
    /// The app: its key in the manifest; in an audit also its appId or display name.
    #[schemars(length(min = 1))]
    pub app: String,
    /// What the finding names, e.g. `crm.example.com` or `Mail.Send`; absent: every finding of
    /// the rule on the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Why it is accepted, for the reviewer.
    #[schemars(length(min = 1))]
    pub justification: String,
}

/// One app registration with its enterprise application (service principal).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct App {
    /// Name shown in the portal and on consent screens.
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Free text for administrators (Graph `notes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Overrides the uniqueName (default: the app's key). Immutable once set in the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_name: Option<String>,
    /// Take over an existing app: its application (client) id for an app without appreg's tags, or
    /// `{appId, fromSet}` for an app another set manages. appreg never takes an app over without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopt: Option<Adopt>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_audience: Option<SignInAudience>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Owners of the application: users by userPrincipalName, service principals by appId.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<Owner>,
    /// Application ID URIs, such as `api://<appId>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifier_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<Web>,
    /// Single-page application platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spa: Option<RedirectPlatform>,
    /// Mobile and desktop (native) platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_client: Option<RedirectPlatform>,
    /// Treat the app as a public client when the flow cannot tell (device code, ROPC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_fallback_public_client: Option<bool>,
    /// The API this app exposes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<Api>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app_roles: Vec<AppRole>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional_claims: Option<OptionalClaims>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_membership_claims: Option<GroupMembershipClaims>,
    /// Informational URLs shown on consent screens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<Info>,
    /// Permissions by resource: a well-known name (`Microsoft Graph`), an appId, or the display name of
    /// a service principal in the tenant.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub permissions: BTreeMap<String, ResourcePermissions>,
    // No doc comment: schemars would wrap the reference in `allOf` (see `Acknowledgement`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_consent: Option<AdminConsent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_principal: Option<ServicePrincipalDecl>,
    /// Client secrets, each delivered to exactly one sink and rotated before expiry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<Secret>,
    /// Public certificates (PEM or DER files) the app authenticates with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<Certificate>,
    /// Workload identity federation: trusted external tokens (GitHub Actions, Kubernetes, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub federated_credentials: Vec<FederatedCredential>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    /// Findings a reviewer accepted for this app, each naming what it covers and why. Only
    /// validation reads them; nothing is sent to the tenant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acknowledge: Vec<Acknowledgement>,
}

/// An accepted finding: the rule whose finding is accepted, the permission it covers, and the
/// reason it is needed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Acknowledgement {
    // No doc comment: schemars would wrap the reference in `allOf`, which the loader's structural
    // check does not follow, and a misspelt rule would lose its "did you mean".
    pub rule: AcknowledgedRule,
    /// `<resource>/<application permission>`, the resource written as under `permissions`, e.g.
    /// `Microsoft Graph/Application.ReadWrite.All`.
    #[schemars(length(min = 3))]
    pub permission: String,
    /// Why the app needs it and how its reach is limited, for the reviewer.
    #[schemars(length(min = 1))]
    pub reason: String,
}

/// Rules whose findings a manifest may acknowledge: `high-privilege-permission` (an application
/// permission with a path to Global Administrator or tenant-wide content access).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AcknowledgedRule {
    // No doc comment on the variant: schemars then writes a plain `enum`, which the loader's
    // structural check reports with "did you mean".
    #[serde(rename = "high-privilege-permission")]
    HighPrivilegePermission,
}

impl AcknowledgedRule {
    /// The rule of the catalogue this names.
    pub fn rule(self) -> &'static crate::catalogue::rules::Rule {
        match self {
            AcknowledgedRule::HighPrivilegePermission => {
                &crate::catalogue::rules::HIGH_PRIVILEGE_PERMISSION
            }
        }
    }
}

/// Who can sign in to the app (Graph `signInAudience`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SignInAudience {
    /// Accounts in this organisation only (the default).
    AzureADMyOrg,
    /// Accounts in any organisation.
    AzureADMultipleOrgs,
    /// Accounts in any organisation and personal Microsoft accounts.
    AzureADandPersonalMicrosoftAccount,
    /// Personal Microsoft accounts only.
    PersonalMicrosoftAccount,
}

/// Which existing app an entry takes over (`adopt:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Adopt {
    /// The application (client) id of an app without appreg's tags (made by hand or by another
    /// tool).
    AppId(String),
    // No doc comment here: schemars would wrap the reference in `allOf`, which the structural
    // check does not follow.
    FromSet(AdoptFromSet),
}

/// An app another appreg set manages (it carries that set's `appreg:set=` tag): both the app and
/// the set must be named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdoptFromSet {
    /// The application (client) id of the app.
    pub app_id: String,
    /// The set that manages the app today (its `appreg:set=<name>` tag, exactly).
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub from_set: String,
}

impl Adopt {
    pub fn app_id(&self) -> &str {
        match self {
            Adopt::AppId(id) => id,
            Adopt::FromSet(from) => &from.app_id,
        }
    }

    pub fn from_set(&self) -> Option<&str> {
        match self {
            Adopt::AppId(_) => None,
            Adopt::FromSet(from) => Some(&from.from_set),
        }
    }
}

/// An owner of the application or of its service principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Owner {
    /// A user, by userPrincipalName.
    User(String),
    /// A service principal, by the appId of its application.
    ServicePrincipal(String),
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Web {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_page_url: Option<String>,
    /// Front-channel logout URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logout_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implicit_grant: Option<ImplicitGrant>,
}

/// Tokens the authorization endpoint may issue directly (Graph `implicitGrantSettings`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImplicitGrant {
    #[serde(default)]
    pub access_tokens: bool,
    #[serde(default)]
    pub id_tokens: bool,
}

/// A platform that is only a list of redirect URIs (`spa`, `publicClient`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedirectPlatform {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Api {
    /// Access token version the API accepts: 1 or 2. Personal-account audiences need 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 2))]
    pub requested_access_token_version: Option<u8>,
    /// Delegated permissions this API exposes (Graph `oauth2PermissionScopes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<Scope>,
    /// Client apps allowed to call the API without consent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_authorized_applications: Vec<PreAuthorizedApplication>,
}

/// A delegated permission the app's API exposes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scope {
    /// The scope name clients request, such as `Tasks.Read`.
    pub value: String,
    /// Stable id. Omit it and appreg derives one from the app key and the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Who may consent: `User` (users and admins) or `Admin` (admins only).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub consent_type: Option<ScopeConsentType>,
    pub admin_consent_display_name: String,
    pub admin_consent_description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_consent_display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_consent_description: Option<String>,
    /// Disabled scopes stay defined but cannot be requested (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_enabled: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ScopeConsentType {
    User,
    Admin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreAuthorizedApplication {
    /// The client application's appId.
    pub app_id: String,
    /// Values of this API's scopes the client gets without consent.
    pub scopes: Vec<String>,
}

/// A role the app defines, assignable to users, groups or applications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppRole {
    /// The value that appears in the `roles` claim.
    pub value: String,
    /// Stable id. Omit it and appreg derives one from the app key and the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub display_name: String,
    pub description: String,
    /// `User` (users and groups), `Application`, or both.
    pub allowed_member_types: Vec<AppRoleMemberType>,
    /// Disabled roles stay defined but cannot be assigned (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_enabled: Option<bool>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum AppRoleMemberType {
    User,
    Application,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OptionalClaims {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_token: Vec<OptionalClaim>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_token: Vec<OptionalClaim>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub saml2_token: Vec<OptionalClaim>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OptionalClaim {
    /// Claim name, such as `email` or `groups`.
    pub name: String,
    /// Source of a directory extension claim (`user`); omit for built-in claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub essential: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_properties: Vec<String>,
}

/// Which groups the `groups` claim carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum GroupMembershipClaims {
    None,
    SecurityGroup,
    DirectoryRole,
    ApplicationGroup,
    All,
}

/// Informational URLs (Graph `info`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Info {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marketing_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_statement_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_of_service_url: Option<String>,
}

/// Tenant-wide admin consent: `true` grants every permission under `permissions`; a mapping
/// grants exactly the permissions it lists (each one also requested under `permissions`), as an
/// app whose consent covers only part of what it requests has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum AdminConsent {
    All(bool),
    Granted(BTreeMap<String, ResourcePermissions>),
}

/// The enterprise application (service principal): its settings, or `false` for an app that
/// has none and that appreg leaves without one (as `az ad app create` makes them): appreg
/// neither creates nor manages one, so consent, assignments and its owners cannot be declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ServicePrincipalDecl {
    Present(bool),
    Settings(ServicePrincipal),
}

impl ServicePrincipalDecl {
    /// The declared settings; none when the declaration is only `true` or `false`.
    pub fn settings(&self) -> Option<&ServicePrincipal> {
        match self {
            ServicePrincipalDecl::Settings(sp) => Some(sp),
            ServicePrincipalDecl::Present(_) => None,
        }
    }
}

/// Permissions requested from one resource API.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourcePermissions {
    /// Delegated permissions (scopes), used on behalf of a signed-in user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delegated: Vec<String>,
    /// Application permissions (app roles), used without a signed-in user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub application: Vec<String>,
}

/// The enterprise application (service principal) in this tenant.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServicePrincipal {
    /// Users can sign in (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_enabled: Option<bool>,
    /// Only assigned users and groups can sign in (Graph `appRoleAssignmentRequired`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment_required: Option<bool>,
    /// Show the app in My Apps (false sets the `HideApp` tag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible_to_users: Option<bool>,
    /// Who is told when the SAML signing certificate nears expiry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notification_emails: Vec<String>,
    /// Users and groups assigned to the app, optionally to one of its roles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignments: Vec<Assignment>,
    /// Owners of the enterprise application: users by userPrincipalName, service principals by
    /// appId. Listed owners are reconciled exactly; an empty list leaves the owners alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<Owner>,
}

/// A user or a group assigned to the enterprise application. Exactly one of `user` and `group`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Assignment {
    /// userPrincipalName of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Display name or object id of the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Value of one of the app's roles; omitted means default access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// A client secret: the app's password credentials whose displayName is `name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Secret {
    /// Identifies the secret: its credentials carry this displayName.
    pub name: String,
    /// How long each generation is valid: `30d`, `12w`, `6mo`, `2y` or ISO-8601 such as `P1Y`.
    /// Default 180d.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<String>,
    /// Rotate when the newest generation expires within this window. Default 30d.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotate_before: Option<String>,
    /// Generations kept after a rotation, newest first (default 2, so consumers overlap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub keep: Option<u32>,
    /// Existing credentials (by keyId) that belong to this secret whatever their displayName:
    /// the credentials of an adopted app, kept with their names and expiry; this secret's
    /// policy applies to them from then on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_ids: Vec<String>,
    // No doc comment: schemars would wrap the reference in `allOf` (see `Acknowledgement`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliver: Option<Deliver>,
}

/// Where a new value goes, exactly once: exactly one of the fields. A secret without `deliver` is
/// kept as it is and never rotated (appreg has nowhere to put a new value).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deliver {
    /// JSON file (mode 0600), relative to the manifest file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// An Azure Key Vault secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_vault: Option<KeyVaultSink>,
    /// A GitHub Actions step output (masked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github: Option<GithubSink>,
    /// Print the value on stdout. Only for interactive hand-over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyVaultSink {
    /// Vault URL, such as `https://contoso-kv.vault.azure.net`.
    pub vault: String,
    /// Secret name in the vault.
    pub secret: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GithubSink {
    /// Step output name the value is written to.
    pub output: String,
}

/// A public certificate the app accepts client assertions from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Certificate {
    /// Identifies the certificate: its keyCredential carries this displayName.
    pub name: String,
    /// PEM or DER file with the public certificate, relative to the manifest file. Private keys are
    /// never read.
    pub file: String,
}

/// A federated identity credential: tokens from `issuer` with `subject` are trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FederatedCredential {
    /// Unique per app, URL-friendly, at most 120 characters; immutable.
    pub name: String,
    pub issuer: String,
    pub subject: String,
    /// Token audience; default `api://AzureADTokenExchange`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Lifecycle {
    /// Refuse any plan that deletes or replaces this app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prevent_destroy: Option<bool>,
    /// Fields managed outside appreg: their live values are neither read into the plan nor written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<IgnoredField>,
}

/// A field `lifecycle.ignore` can name.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum IgnoredField {
    #[serde(rename = "description")]
    Description,
    #[serde(rename = "notes")]
    Notes,
    #[serde(rename = "tags")]
    Tags,
    #[serde(rename = "owners")]
    Owners,
    #[serde(rename = "identifierUris")]
    IdentifierUris,
    #[serde(rename = "web.redirectUris")]
    WebRedirectUris,
    #[serde(rename = "spa.redirectUris")]
    SpaRedirectUris,
    #[serde(rename = "publicClient.redirectUris")]
    PublicClientRedirectUris,
    #[serde(rename = "api")]
    Api,
    #[serde(rename = "appRoles")]
    AppRoles,
    #[serde(rename = "optionalClaims")]
    OptionalClaims,
    #[serde(rename = "info")]
    Info,
    #[serde(rename = "permissions")]
    Permissions,
    #[serde(rename = "servicePrincipal.assignments")]
    Assignments,
    #[serde(rename = "certificates")]
    Certificates,
    #[serde(rename = "federatedCredentials")]
    FederatedCredentials,
}
