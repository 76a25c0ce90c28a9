//! Wire types -> desired-state model, and back.
//!
//! `desired_state` runs only on validated input, so every parse here is known to succeed. `to_wire`
//! writes a model back in manifest form; loading its YAML gives the same model (property-tested).

use std::collections::BTreeMap;
use std::path::Path;

use uuid::Uuid;

use super::settings::Settings;
use super::validate::unique_name;
use super::wire;
use crate::model::{self, DesiredApp, DesiredState, ManifestPath, Period};

/// Namespace for ids appreg derives for scopes and roles declared without one.
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6170_7072_6567_4000_8000_0000_0000_0001);

/// A stable id for a scope or role: the same app and value always get the same id, so a manifest
/// needs no state file to keep ids across runs.
pub fn derived_id(unique_name: &str, kind: &str, value: &str) -> Uuid {
    Uuid::new_v5(
        &ID_NAMESPACE,
        format!("{unique_name}/{kind}/{value}").as_bytes(),
    )
}

pub fn desired_state(settings: Settings, apps: &[(&str, &wire::App, &Path)]) -> DesiredState {
    DesiredState {
        set_name: settings.name,
        tenant: settings.tenant,
        prune: settings.prune,
        apps: apps
            .iter()
            .map(|(key, app, base_dir)| (key.to_string(), desired_app(key, app, base_dir)))
            .collect(),
    }
}

fn period(text: &Option<String>, default: Period) -> Period {
    text.as_deref()
        .and_then(|t| Period::parse(t).ok())
        .unwrap_or(default)
}

fn parse_id(text: &Option<String>, fallback: impl FnOnce() -> Uuid) -> Uuid {
    text.as_deref()
        .and_then(|t| Uuid::parse_str(t).ok())
        .unwrap_or_else(fallback)
}

/// An owner as the model keeps it (appIds lower-cased, as Graph compares them).
fn owner_ref(owner: &wire::Owner) -> model::OwnerRef {
    match owner {
        wire::Owner::User(upn) => model::OwnerRef::User(upn.clone()),
        wire::Owner::ServicePrincipal(id) => model::OwnerRef::ServicePrincipal(id.to_lowercase()),
    }
}

/// An owner as the manifest writes it.
fn owner_to_wire(owner: &model::OwnerRef) -> wire::Owner {
    match owner {
        model::OwnerRef::User(u) => wire::Owner::User(u.clone()),
        model::OwnerRef::ServicePrincipal(s) => wire::Owner::ServicePrincipal(s.clone()),
    }
}

fn desired_app(key: &str, app: &wire::App, base_dir: &Path) -> DesiredApp {
    let unique = unique_name(key, app).to_string();
    let path = |declared: &str| ManifestPath {
        declared: declared.to_string(),
        base_dir: base_dir.to_path_buf(),
    };
    let api = app.api.clone().unwrap_or_default();
    let web = app.web.clone().unwrap_or_default();
    let sp_managed = !matches!(
        app.service_principal,
        Some(wire::ServicePrincipalDecl::Present(false))
    );
    let sp = app
        .service_principal
        .as_ref()
        .and_then(wire::ServicePrincipalDecl::settings)
        .cloned()
        .unwrap_or_default();
    let claims = app.optional_claims.clone().unwrap_or_default();
    let info = app.info.clone().unwrap_or_default();
    DesiredApp {
        key: key.to_string(),
        adopt: app.adopt.as_ref().and_then(|a| {
            Some(model::Adoption {
                app_id: Uuid::parse_str(a.app_id()).ok()?,
                from_set: a.from_set().map(str::to_string),
            })
        }),
        display_name: app.display_name.clone(),
        description: app.description.clone(),
        notes: app.notes.clone(),
        sign_in_audience: match app
            .sign_in_audience
            .unwrap_or(wire::SignInAudience::AzureADMyOrg)
        {
            wire::SignInAudience::AzureADMyOrg => model::SignInAudience::MyOrganization,
            wire::SignInAudience::AzureADMultipleOrgs => {
                model::SignInAudience::MultipleOrganizations
            }
            wire::SignInAudience::AzureADandPersonalMicrosoftAccount => {
                model::SignInAudience::OrganizationsAndPersonalAccounts
            }
            wire::SignInAudience::PersonalMicrosoftAccount => {
                model::SignInAudience::PersonalAccounts
            }
        },
        tags: app.tags.iter().cloned().collect(),
        owners: app.owners.iter().map(owner_ref).collect(),
        identifier_uris: app.identifier_uris.iter().cloned().collect(),
        web: model::WebPlatform {
            redirect_uris: web.redirect_uris.into_iter().collect(),
            home_page_url: web.home_page_url,
            logout_url: web.logout_url,
            issue_access_tokens: web.implicit_grant.as_ref().is_some_and(|g| g.access_tokens),
            issue_id_tokens: web.implicit_grant.as_ref().is_some_and(|g| g.id_tokens),
        },
        spa_redirect_uris: app
            .spa
            .iter()
            .flat_map(|s| s.redirect_uris.iter().cloned())
            .collect(),
        public_client_redirect_uris: app
            .public_client
            .iter()
            .flat_map(|s| s.redirect_uris.iter().cloned())
            .collect(),
        fallback_public_client: app.is_fallback_public_client,
        api: model::ExposedApi {
            requested_access_token_version: api.requested_access_token_version,
            scopes: api
                .scopes
                .iter()
                .map(|s| model::ExposedScope {
                    id: parse_id(&s.id, || derived_id(&unique, "scope", &s.value)),
                    value: s.value.clone(),
                    admins_only: s.consent_type == Some(wire::ScopeConsentType::Admin),
                    admin_consent_display_name: s.admin_consent_display_name.clone(),
                    admin_consent_description: s.admin_consent_description.clone(),
                    user_consent_display_name: s.user_consent_display_name.clone(),
                    user_consent_description: s.user_consent_description.clone(),
                    enabled: s.is_enabled.unwrap_or(true),
                })
                .collect(),
            pre_authorized_applications: api
                .pre_authorized_applications
                .iter()
                .filter_map(|p| {
                    Some(model::PreAuthorizedApplication {
                        app_id: Uuid::parse_str(&p.app_id).ok()?,
                        scopes: p.scopes.iter().cloned().collect(),
                    })
                })
                .collect(),
        },
        app_roles: app
            .app_roles
            .iter()
            .map(|r| model::AppRole {
                id: parse_id(&r.id, || derived_id(&unique, "role", &r.value)),
                value: r.value.clone(),
                display_name: r.display_name.clone(),
                description: r.description.clone(),
                allowed_member_types: r
                    .allowed_member_types
                    .iter()
                    .map(|t| match t {
                        wire::AppRoleMemberType::User => model::AppRoleMemberType::User,
                        wire::AppRoleMemberType::Application => {
                            model::AppRoleMemberType::Application
                        }
                    })
                    .collect(),
                enabled: r.is_enabled.unwrap_or(true),
            })
            .collect(),
        optional_claims: model::OptionalClaims {
            id_token: claims.id_token.iter().map(claim).collect(),
            access_token: claims.access_token.iter().map(claim).collect(),
            saml2_token: claims.saml2_token.iter().map(claim).collect(),
        },
        group_membership_claims: app.group_membership_claims.map(|g| match g {
            wire::GroupMembershipClaims::None => model::GroupMembershipClaims::None,
            wire::GroupMembershipClaims::SecurityGroup => {
                model::GroupMembershipClaims::SecurityGroup
            }
            wire::GroupMembershipClaims::DirectoryRole => {
                model::GroupMembershipClaims::DirectoryRole
            }
            wire::GroupMembershipClaims::ApplicationGroup => {
                model::GroupMembershipClaims::ApplicationGroup
            }
            wire::GroupMembershipClaims::All => model::GroupMembershipClaims::All,
        }),
        info: model::InfoUrls {
            marketing_url: info.marketing_url,
            privacy_statement_url: info.privacy_statement_url,
            support_url: info.support_url,
            terms_of_service_url: info.terms_of_service_url,
        },
        permissions: requested(&app.permissions),
        admin_consent: match &app.admin_consent {
            None | Some(wire::AdminConsent::All(false)) => model::AdminConsent::None,
            Some(wire::AdminConsent::All(true)) => model::AdminConsent::All,
            Some(wire::AdminConsent::Granted(granted)) => {
                model::AdminConsent::Granted(requested(granted))
            }
        },
        service_principal: model::ServicePrincipalSettings {
            managed: sp_managed,
            account_enabled: sp.account_enabled.unwrap_or(true),
            assignment_required: sp.assignment_required.unwrap_or(false),
            visible_to_users: sp.visible_to_users.unwrap_or(true),
            notification_emails: sp.notification_emails.iter().cloned().collect(),
            assignments: sp
                .assignments
                .iter()
                .filter_map(|a| {
                    let principal = match (&a.user, &a.group) {
                        (Some(user), None) => model::Principal::User(user.clone()),
                        (None, Some(group)) => model::Principal::Group(group.clone()),
                        _ => return None,
                    };
                    Some(model::AssignmentSpec {
                        principal,
                        role: a.role.clone(),
                    })
                })
                .collect(),
            owners: sp.owners.iter().map(owner_ref).collect(),
        },
        secrets: app
            .secrets
            .iter()
            .map(|s| model::SecretSpec {
                name: s.name.clone(),
                lifetime: period(&s.lifetime, model::DEFAULT_SECRET_LIFETIME),
                rotate_before: period(&s.rotate_before, model::DEFAULT_ROTATE_BEFORE),
                keep: s.keep.unwrap_or(model::DEFAULT_KEEP),
                sink: s.deliver.as_ref().map(|d| sink(d, &path)),
                key_ids: s.key_ids.iter().map(|k| k.to_lowercase()).collect(),
            })
            .collect(),
        certificates: app
            .certificates
            .iter()
            .map(|c| model::CertificateSpec {
                name: c.name.clone(),
                file: path(&c.file),
            })
            .collect(),
        federated_credentials: app
            .federated_credentials
            .iter()
            .map(|f| model::FederatedCredentialSpec {
                name: f.name.clone(),
                issuer: f.issuer.clone(),
                subject: f.subject.clone(),
                audiences: if f.audiences.is_empty() {
                    [model::DEFAULT_FEDERATED_AUDIENCE.to_string()].into()
                } else {
                    f.audiences.iter().cloned().collect()
                },
                description: f.description.clone(),
            })
            .collect(),
        lifecycle: model::Lifecycle {
            prevent_destroy: app
                .lifecycle
                .as_ref()
                .and_then(|l| l.prevent_destroy)
                .unwrap_or(false),
            ignore: app
                .lifecycle
                .iter()
                .flat_map(|l| l.ignore.iter().map(|f| ignored(*f)))
                .collect(),
        },
        unique_name: unique,
    }
}

/// Permissions by resource, as the model keeps them.
fn requested(
    permissions: &BTreeMap<String, wire::ResourcePermissions>,
) -> BTreeMap<String, model::RequestedPermissions> {
    permissions
        .iter()
        .map(|(resource, p)| {
            (
                resource.clone(),
                model::RequestedPermissions {
                    delegated: p.delegated.iter().cloned().collect(),
                    application: p.application.iter().cloned().collect(),
                },
            )
        })
        .collect()
}

/// Permissions by resource, as the manifest writes them.
pub(crate) fn requested_to_wire(
    permissions: &BTreeMap<String, model::RequestedPermissions>,
) -> BTreeMap<String, wire::ResourcePermissions> {
    permissions
        .iter()
        .map(|(r, p)| {
            (
                r.clone(),
                wire::ResourcePermissions {
                    delegated: p.delegated.iter().cloned().collect(),
                    application: p.application.iter().cloned().collect(),
                },
            )
        })
        .collect()
}

fn claim(c: &wire::OptionalClaim) -> model::OptionalClaim {
    model::OptionalClaim {
        name: c.name.clone(),
        source: c.source.clone(),
        essential: c.essential.unwrap_or(false),
        additional_properties: c.additional_properties.clone(),
    }
}

fn sink(deliver: &wire::Deliver, path: &impl Fn(&str) -> ManifestPath) -> model::SecretSink {
    if let Some(file) = &deliver.file {
        model::SecretSink::File(path(file))
    } else if let Some(kv) = &deliver.key_vault {
        model::SecretSink::KeyVault {
            vault: kv.vault.clone(),
            secret: kv.secret.clone(),
        }
    } else if let Some(github) = &deliver.github {
        model::SecretSink::GithubOutput {
            output: github.output.clone(),
        }
    } else {
        model::SecretSink::Stdout
    }
}

/// The wire and model enums name the same fields; this table is the one place that pairs them.
const IGNORED_FIELDS: [(wire::IgnoredField, model::IgnoredField); 16] = [
    (
        wire::IgnoredField::Description,
        model::IgnoredField::Description,
    ),
    (wire::IgnoredField::Notes, model::IgnoredField::Notes),
    (wire::IgnoredField::Tags, model::IgnoredField::Tags),
    (wire::IgnoredField::Owners, model::IgnoredField::Owners),
    (
        wire::IgnoredField::IdentifierUris,
        model::IgnoredField::IdentifierUris,
    ),
    (
        wire::IgnoredField::WebRedirectUris,
        model::IgnoredField::WebRedirectUris,
    ),
    (
        wire::IgnoredField::SpaRedirectUris,
        model::IgnoredField::SpaRedirectUris,
    ),
    (
        wire::IgnoredField::PublicClientRedirectUris,
        model::IgnoredField::PublicClientRedirectUris,
    ),
    (wire::IgnoredField::Api, model::IgnoredField::Api),
    (wire::IgnoredField::AppRoles, model::IgnoredField::AppRoles),
    (
        wire::IgnoredField::OptionalClaims,
        model::IgnoredField::OptionalClaims,
    ),
    (wire::IgnoredField::Info, model::IgnoredField::Info),
    (
        wire::IgnoredField::Permissions,
        model::IgnoredField::Permissions,
    ),
    (
        wire::IgnoredField::Assignments,
        model::IgnoredField::Assignments,
    ),
    (
        wire::IgnoredField::Certificates,
        model::IgnoredField::Certificates,
    ),
    (
        wire::IgnoredField::FederatedCredentials,
        model::IgnoredField::FederatedCredentials,
    ),
];

fn ignored(field: wire::IgnoredField) -> model::IgnoredField {
    IGNORED_FIELDS
        .iter()
        .find(|(w, _)| *w == field)
        .map(|(_, m)| *m)
        .expect("every wire field is paired")
}

fn ignored_to_wire(field: model::IgnoredField) -> wire::IgnoredField {
    IGNORED_FIELDS
        .iter()
        .find(|(_, m)| *m == field)
        .map(|(w, _)| *w)
        .expect("every model field is paired")
}

fn some_if<T>(condition: bool, value: T) -> Option<T> {
    condition.then_some(value)
}

/// The model in manifest form: one file holding every app. Ids, periods and defaults are written
/// explicitly, so loading the result gives this model back.
pub fn to_wire(state: &DesiredState) -> wire::ManifestFile {
    wire::ManifestFile {
        version: 1,
        name: Some(state.set_name.clone()),
        tenant: state.tenant.clone(),
        prune: some_if(state.prune, true),
        apps: state
            .apps
            .iter()
            .map(|(k, a)| (k.clone(), app_to_wire(a)))
            .collect::<BTreeMap<_, _>>(),
        policy: None,
    }
}

pub(super) fn app_to_wire(app: &DesiredApp) -> wire::App {
    let web = &app.web;
    let sp = &app.service_principal;
    let claims = &app.optional_claims;
    wire::App {
        display_name: app.display_name.clone(),
        description: app.description.clone(),
        notes: app.notes.clone(),
        unique_name: some_if(app.unique_name != app.key, app.unique_name.clone()),
        adopt: app.adopt.as_ref().map(|a| match &a.from_set {
            None => wire::Adopt::AppId(a.app_id.to_string()),
            Some(set) => wire::Adopt::FromSet(wire::AdoptFromSet {
                app_id: a.app_id.to_string(),
                from_set: set.clone(),
            }),
        }),
        sign_in_audience: Some(match app.sign_in_audience {
            model::SignInAudience::MyOrganization => wire::SignInAudience::AzureADMyOrg,
            model::SignInAudience::MultipleOrganizations => {
                wire::SignInAudience::AzureADMultipleOrgs
            }
            model::SignInAudience::OrganizationsAndPersonalAccounts => {
                wire::SignInAudience::AzureADandPersonalMicrosoftAccount
            }
            model::SignInAudience::PersonalAccounts => {
                wire::SignInAudience::PersonalMicrosoftAccount
            }
        }),
        tags: app.tags.iter().cloned().collect(),
        owners: app.owners.iter().map(owner_to_wire).collect(),
        identifier_uris: app.identifier_uris.iter().cloned().collect(),
        web: Some(wire::Web {
            redirect_uris: web.redirect_uris.iter().cloned().collect(),
            home_page_url: web.home_page_url.clone(),
            logout_url: web.logout_url.clone(),
            implicit_grant: Some(wire::ImplicitGrant {
                access_tokens: web.issue_access_tokens,
                id_tokens: web.issue_id_tokens,
            }),
        }),
        spa: Some(wire::RedirectPlatform {
            redirect_uris: app.spa_redirect_uris.iter().cloned().collect(),
        }),
        public_client: Some(wire::RedirectPlatform {
            redirect_uris: app.public_client_redirect_uris.iter().cloned().collect(),
        }),
        is_fallback_public_client: app.fallback_public_client,
        api: Some(wire::Api {
            requested_access_token_version: app.api.requested_access_token_version,
            scopes: app
                .api
                .scopes
                .iter()
                .map(|s| wire::Scope {
                    value: s.value.clone(),
                    id: Some(s.id.to_string()),
                    consent_type: Some(if s.admins_only {
                        wire::ScopeConsentType::Admin
                    } else {
                        wire::ScopeConsentType::User
                    }),
                    admin_consent_display_name: s.admin_consent_display_name.clone(),
                    admin_consent_description: s.admin_consent_description.clone(),
                    user_consent_display_name: s.user_consent_display_name.clone(),
                    user_consent_description: s.user_consent_description.clone(),
                    is_enabled: Some(s.enabled),
                })
                .collect(),
            pre_authorized_applications: app
                .api
                .pre_authorized_applications
                .iter()
                .map(|p| wire::PreAuthorizedApplication {
                    app_id: p.app_id.to_string(),
                    scopes: p.scopes.iter().cloned().collect(),
                })
                .collect(),
        }),
        app_roles: app
            .app_roles
            .iter()
            .map(|r| wire::AppRole {
                value: r.value.clone(),
                id: Some(r.id.to_string()),
                display_name: r.display_name.clone(),
                description: r.description.clone(),
                allowed_member_types: r
                    .allowed_member_types
                    .iter()
                    .map(|t| match t {
                        model::AppRoleMemberType::User => wire::AppRoleMemberType::User,
                        model::AppRoleMemberType::Application => {
                            wire::AppRoleMemberType::Application
                        }
                    })
                    .collect(),
                is_enabled: Some(r.enabled),
            })
            .collect(),
        optional_claims: Some(wire::OptionalClaims {
            id_token: claims.id_token.iter().map(claim_to_wire).collect(),
            access_token: claims.access_token.iter().map(claim_to_wire).collect(),
            saml2_token: claims.saml2_token.iter().map(claim_to_wire).collect(),
        }),
        group_membership_claims: app.group_membership_claims.map(|g| match g {
            model::GroupMembershipClaims::None => wire::GroupMembershipClaims::None,
            model::GroupMembershipClaims::SecurityGroup => {
                wire::GroupMembershipClaims::SecurityGroup
            }
            model::GroupMembershipClaims::DirectoryRole => {
                wire::GroupMembershipClaims::DirectoryRole
            }
            model::GroupMembershipClaims::ApplicationGroup => {
                wire::GroupMembershipClaims::ApplicationGroup
            }
            model::GroupMembershipClaims::All => wire::GroupMembershipClaims::All,
        }),
        info: Some(wire::Info {
            marketing_url: app.info.marketing_url.clone(),
            privacy_statement_url: app.info.privacy_statement_url.clone(),
            support_url: app.info.support_url.clone(),
            terms_of_service_url: app.info.terms_of_service_url.clone(),
        }),
        permissions: requested_to_wire(&app.permissions),
        admin_consent: Some(match &app.admin_consent {
            model::AdminConsent::None => wire::AdminConsent::All(false),
            model::AdminConsent::All => wire::AdminConsent::All(true),
            model::AdminConsent::Granted(granted) => {
                wire::AdminConsent::Granted(requested_to_wire(granted))
            }
        }),
        service_principal: Some(if !sp.managed {
            wire::ServicePrincipalDecl::Present(false)
        } else {
            wire::ServicePrincipalDecl::Settings(wire::ServicePrincipal {
                account_enabled: Some(sp.account_enabled),
                assignment_required: Some(sp.assignment_required),
                visible_to_users: Some(sp.visible_to_users),
                notification_emails: sp.notification_emails.iter().cloned().collect(),
                assignments: sp
                    .assignments
                    .iter()
                    .map(|a| wire::Assignment {
                        user: match &a.principal {
                            model::Principal::User(u) => Some(u.clone()),
                            model::Principal::Group(_) => None,
                        },
                        group: match &a.principal {
                            model::Principal::Group(g) => Some(g.clone()),
                            model::Principal::User(_) => None,
                        },
                        role: a.role.clone(),
                    })
                    .collect(),
                owners: sp.owners.iter().map(owner_to_wire).collect(),
            })
        }),
        secrets: app
            .secrets
            .iter()
            .map(|s| wire::Secret {
                name: s.name.clone(),
                lifetime: Some(s.lifetime.to_string()),
                rotate_before: Some(s.rotate_before.to_string()),
                keep: Some(s.keep),
                key_ids: s.key_ids.iter().cloned().collect(),
                deliver: s.sink.as_ref().map(sink_to_wire),
            })
            .collect(),
        certificates: app
            .certificates
            .iter()
            .map(|c| wire::Certificate {
                name: c.name.clone(),
                file: c.file.declared.clone(),
            })
            .collect(),
        federated_credentials: app
            .federated_credentials
            .iter()
            .map(|f| wire::FederatedCredential {
                name: f.name.clone(),
                issuer: f.issuer.clone(),
                subject: f.subject.clone(),
                audiences: f.audiences.iter().cloned().collect(),
                description: f.description.clone(),
            })
            .collect(),
        lifecycle: Some(wire::Lifecycle {
            prevent_destroy: Some(app.lifecycle.prevent_destroy),
            ignore: app
                .lifecycle
                .ignore
                .iter()
                .map(|f| ignored_to_wire(*f))
                .collect(),
        }),
        // Acknowledgements are for review only; the desired state does not carry them.
        acknowledge: Vec::new(),
    }
}

fn sink_to_wire(sink: &model::SecretSink) -> wire::Deliver {
    match sink {
        model::SecretSink::File(p) => wire::Deliver {
            file: Some(p.declared.clone()),
            ..Default::default()
        },
        model::SecretSink::KeyVault { vault, secret } => wire::Deliver {
            key_vault: Some(wire::KeyVaultSink {
                vault: vault.clone(),
                secret: secret.clone(),
            }),
            ..Default::default()
        },
        model::SecretSink::GithubOutput { output } => wire::Deliver {
            github: Some(wire::GithubSink {
                output: output.clone(),
            }),
            ..Default::default()
        },
        model::SecretSink::Stdout => wire::Deliver {
            stdout: Some(true),
            ..Default::default()
        },
    }
}

fn claim_to_wire(c: &model::OptionalClaim) -> wire::OptionalClaim {
    wire::OptionalClaim {
        name: c.name.clone(),
        source: c.source.clone(),
        essential: Some(c.essential),
        additional_properties: c.additional_properties.clone(),
    }
}
