//! The desired state the engine reconciles the tenant towards.
//!
//! Built once from validated manifests (`crate::manifest`); knows nothing of YAML or HTTP. Collections
//! whose order Graph ignores are sets here, so reordering a list in the manifest is no change.

mod period;
pub mod policy;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use uuid::Uuid;

pub use period::Period;

/// Everything one manifest (one ownership set) declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredState {
    /// Ownership set name: managed apps carry the tag `appreg:set=<set_name>`.
    pub set_name: String,
    pub tenant: Option<String>,
    pub prune: bool,
    pub apps: BTreeMap<String, DesiredApp>,
}

/// Tag every app appreg creates carries.
pub const MANAGED_TAG: &str = "appreg:managed";

/// Tag naming the ownership set of a managed app.
pub fn set_tag(set_name: &str) -> String {
    format!("appreg:set={set_name}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SignInAudience {
    MyOrganization,
    MultipleOrganizations,
    OrganizationsAndPersonalAccounts,
    PersonalAccounts,
}

impl SignInAudience {
    /// Graph's `signInAudience` value.
    pub fn graph_value(self) -> &'static str {
        match self {
            SignInAudience::MyOrganization => "AzureADMyOrg",
            SignInAudience::MultipleOrganizations => "AzureADMultipleOrgs",
            SignInAudience::OrganizationsAndPersonalAccounts => {
                "AzureADandPersonalMicrosoftAccount"
            }
            SignInAudience::PersonalAccounts => "PersonalMicrosoftAccount",
        }
    }

    /// Personal Microsoft accounts can sign in: stricter Graph limits apply.
    pub fn allows_personal_accounts(self) -> bool {
        matches!(
            self,
            SignInAudience::OrganizationsAndPersonalAccounts | SignInAudience::PersonalAccounts
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredApp {
    /// The manifest key.
    pub key: String,
    /// The application's uniqueName: its identity in the tenant.
    pub unique_name: String,
    /// An existing app this entry takes over (`adopt:`); ownership never changes hands without it.
    pub adopt: Option<Adoption>,
    pub display_name: String,
    pub description: Option<String>,
    pub notes: Option<String>,
    pub sign_in_audience: SignInAudience,
    /// Tags declared in the manifest, without appreg's own ownership tags.
    pub tags: BTreeSet<String>,
    pub owners: BTreeSet<OwnerRef>,
    pub identifier_uris: BTreeSet<String>,
    pub web: WebPlatform,
    pub spa_redirect_uris: BTreeSet<String>,
    pub public_client_redirect_uris: BTreeSet<String>,
    pub fallback_public_client: Option<bool>,
    pub api: ExposedApi,
    pub app_roles: Vec<AppRole>,
    pub optional_claims: OptionalClaims,
    pub group_membership_claims: Option<GroupMembershipClaims>,
    pub info: InfoUrls,
    /// Keyed by the resource as written in the manifest (well-known name, appId or display name).
    pub permissions: BTreeMap<String, RequestedPermissions>,
    pub admin_consent: AdminConsent,
    pub service_principal: ServicePrincipalSettings,
    pub secrets: Vec<SecretSpec>,
    pub certificates: Vec<CertificateSpec>,
    pub federated_credentials: Vec<FederatedCredentialSpec>,
    pub lifecycle: Lifecycle,
}

/// The explicit consent to take over an existing app: which app, and the set it comes from when
/// another set manages it. The engine refuses to manage an app that is not this set's unless the
/// entry adopts exactly that app from exactly that set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adoption {
    /// The app's application (client) id.
    pub app_id: Uuid,
    /// The set whose `appreg:set=` tag the app carries; None for an app without appreg's tags.
    pub from_set: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum OwnerRef {
    /// userPrincipalName
    User(String),
    /// appId of the service principal's application
    ServicePrincipal(String),
}

/// An owner as the manifest writes it (`user: alex@contoso.com`, `servicePrincipal: <appId>`).
impl std::fmt::Display for OwnerRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OwnerRef::User(upn) => write!(f, "user: {upn}"),
            OwnerRef::ServicePrincipal(app_id) => write!(f, "servicePrincipal: {app_id}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebPlatform {
    pub redirect_uris: BTreeSet<String>,
    pub home_page_url: Option<String>,
    pub logout_url: Option<String>,
    pub issue_access_tokens: bool,
    pub issue_id_tokens: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExposedApi {
    pub requested_access_token_version: Option<u8>,
    pub scopes: Vec<ExposedScope>,
    pub pre_authorized_applications: Vec<PreAuthorizedApplication>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposedScope {
    pub id: Uuid,
    pub value: String,
    pub admins_only: bool,
    pub admin_consent_display_name: String,
    pub admin_consent_description: String,
    pub user_consent_display_name: Option<String>,
    pub user_consent_description: Option<String>,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreAuthorizedApplication {
    pub app_id: Uuid,
    /// Values of this app's own scopes.
    pub scopes: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRole {
    pub id: Uuid,
    pub value: String,
    pub display_name: String,
    pub description: String,
    pub allowed_member_types: BTreeSet<AppRoleMemberType>,
    pub enabled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AppRoleMemberType {
    User,
    Application,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OptionalClaims {
    pub id_token: Vec<OptionalClaim>,
    pub access_token: Vec<OptionalClaim>,
    pub saml2_token: Vec<OptionalClaim>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionalClaim {
    pub name: String,
    pub source: Option<String>,
    pub essential: bool,
    pub additional_properties: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupMembershipClaims {
    None,
    SecurityGroup,
    DirectoryRole,
    ApplicationGroup,
    All,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InfoUrls {
    pub marketing_url: Option<String>,
    pub privacy_statement_url: Option<String>,
    pub support_url: Option<String>,
    pub terms_of_service_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestedPermissions {
    pub delegated: BTreeSet<String>,
    pub application: BTreeSet<String>,
}

/// Tenant-wide consent to the app's requested permissions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AdminConsent {
    /// Nothing granted tenant-wide (`adminConsent: false` or omitted).
    #[default]
    None,
    /// Every requested permission granted (`adminConsent: true`).
    All,
    /// Exactly these permissions granted, by resource as written under `permissions` (an app
    /// whose consent covers part of what it requests, as imported apps often are).
    Granted(BTreeMap<String, RequestedPermissions>),
}

impl From<bool> for AdminConsent {
    fn from(all: bool) -> Self {
        if all {
            AdminConsent::All
        } else {
            AdminConsent::None
        }
    }
}

impl AdminConsent {
    /// What is granted of `requested`, per resource; resources with nothing granted are left out.
    pub fn granted<'a>(
        &'a self,
        requested: &'a BTreeMap<String, RequestedPermissions>,
    ) -> BTreeMap<&'a str, std::borrow::Cow<'a, RequestedPermissions>> {
        use std::borrow::Cow;
        match self {
            AdminConsent::None => BTreeMap::new(),
            AdminConsent::All => requested
                .iter()
                .map(|(r, p)| (r.as_str(), Cow::Borrowed(p)))
                .collect(),
            AdminConsent::Granted(granted) => granted
                .iter()
                .map(|(r, p)| (r.as_str(), Cow::Borrowed(p)))
                .collect(),
        }
    }

    /// Whether anything at all is granted.
    pub fn any(&self) -> bool {
        !matches!(self, AdminConsent::None)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePrincipalSettings {
    /// False (`servicePrincipal: false`): appreg neither creates nor manages an enterprise
    /// application for this app.
    pub managed: bool,
    pub account_enabled: bool,
    pub assignment_required: bool,
    pub visible_to_users: bool,
    pub notification_emails: BTreeSet<String>,
    pub assignments: BTreeSet<AssignmentSpec>,
    /// Owners of the enterprise application; managed only when the manifest lists some.
    pub owners: BTreeSet<OwnerRef>,
}

impl Default for ServicePrincipalSettings {
    fn default() -> Self {
        ServicePrincipalSettings {
            managed: true,
            account_enabled: true,
            assignment_required: false,
            visible_to_users: true,
            notification_emails: BTreeSet::new(),
            owners: BTreeSet::new(),
            assignments: BTreeSet::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AssignmentSpec {
    pub principal: Principal,
    /// Value of one of the app's roles; None is default access.
    pub role: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Principal {
    /// userPrincipalName
    User(String),
    /// display name or object id
    Group(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    pub name: String,
    pub lifetime: Period,
    pub rotate_before: Period,
    pub keep: u32,
    /// Where new values go; None for a secret adopted as it is: its credentials are kept and
    /// never rotated until a sink is chosen.
    pub sink: Option<SecretSink>,
    /// keyIds (lower-cased) of existing credentials that belong to this secret whatever their
    /// displayName (credentials made by hand, before appreg managed the app).
    pub key_ids: BTreeSet<String>,
}

impl SecretSpec {
    /// Whether the live credential with `key_id` and `display_name` belongs to this secret.
    pub fn claims(&self, key_id: &str, display_name: Option<&str>) -> bool {
        display_name == Some(self.name.as_str()) || self.key_ids.contains(&key_id.to_lowercase())
    }
}

/// Default lifetime of a secret generation.
pub const DEFAULT_SECRET_LIFETIME: Period = Period::days(180);
/// Default rotation window.
pub const DEFAULT_ROTATE_BEFORE: Period = Period::days(30);
/// Default number of generations kept, so consumers overlap during rotation.
pub const DEFAULT_KEEP: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSink {
    File(ManifestPath),
    KeyVault { vault: String, secret: String },
    GithubOutput { output: String },
    Stdout,
}

/// A path written in a manifest, with the directory it is relative to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestPath {
    pub declared: String,
    pub base_dir: PathBuf,
}

impl ManifestPath {
    pub fn resolved(&self) -> PathBuf {
        self.base_dir.join(&self.declared)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSpec {
    pub name: String,
    pub file: ManifestPath,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedCredentialSpec {
    pub name: String,
    pub issuer: String,
    pub subject: String,
    pub audiences: BTreeSet<String>,
    pub description: Option<String>,
}

/// Audience of tokens exchanged for Entra ID tokens.
pub const DEFAULT_FEDERATED_AUDIENCE: &str = "api://AzureADTokenExchange";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lifecycle {
    pub prevent_destroy: bool,
    pub ignore: BTreeSet<IgnoredField>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IgnoredField {
    Description,
    Notes,
    Tags,
    Owners,
    IdentifierUris,
    WebRedirectUris,
    SpaRedirectUris,
    PublicClientRedirectUris,
    Api,
    AppRoles,
    OptionalClaims,
    Info,
    Permissions,
    Assignments,
    Certificates,
    FederatedCredentials,
}
