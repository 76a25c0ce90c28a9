//! The tenant rules of the catalogue, judged on a tenant read by `audit::read`, as of a given
//! moment and under a policy.
//!
//! Why it is separate from the reading: a decision kept pure can be tested on tenant shapes
//! built in memory, one per rule, without a sandbox.
//!
//! What it must never do: look at the clock (the caller passes `now`), or report an app twice
//! for one thing (one finding per rule, object and subject).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{Application, Credential, ServicePrincipal, Tenant};
use crate::catalogue::rules::{self, Level, Rule};
use crate::catalogue::{PermissionKind, privilege};
use crate::model::policy::{Policy, is_localhost};

/// Tenant of Microsoft's first-party applications: their service principals are Microsoft's to
/// look after, not the tenant's.
const MICROSOFT_TENANT: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";

/// What a finding is about in the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Object {
    /// `application` or `servicePrincipal`.
    pub kind: &'static str,
    /// The object id.
    pub id: String,
    pub app_id: Uuid,
    pub display_name: String,
    /// The appreg set that manages the app, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
}

/// One finding of one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    #[serde(serialize_with = "rule_id")]
    pub rule: &'static Rule,
    pub level: Level,
    pub object: Object,
    /// What the finding names: a permission, credential or host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub message: String,
}

fn rule_id<S: serde::Serializer>(rule: &&'static Rule, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(rule.id)
}

/// The findings, sorted by rule then object, and how many the policy allowed.
pub struct Judged {
    pub findings: Vec<Finding>,
    pub allowed: usize,
}

/// Judges every app and service principal of `tenant` as of `now`.
pub fn judge(tenant: &Tenant, policy: &Policy, now: DateTime<Utc>) -> Judged {
    let mut judge = Judge {
        policy,
        now,
        findings: Vec::new(),
        allowed: 0,
    };
    let sp_by_app: HashMap<Uuid, &ServicePrincipal> = tenant
        .service_principals
        .iter()
        .map(|sp| (sp.app_id, sp))
        .collect();
    let sp_by_id: HashMap<&str, &ServicePrincipal> = tenant
        .service_principals
        .iter()
        .map(|sp| (sp.id.as_str(), sp))
        .collect();
    // Granted application permissions per client service principal: (resource, role value).
    let mut granted: HashMap<&str, Vec<(&ServicePrincipal, String)>> = HashMap::new();
    for a in &tenant.assignments {
        let Some(resource) = sp_by_id.get(a.resource_id.as_str()) else {
            continue;
        };
        let value = resource
            .app_roles()
            .iter()
            .find(|r| r.id == a.app_role_id)
            .and_then(|r| r.value.clone())
            .unwrap_or_else(|| a.app_role_id.to_string());
        granted
            .entry(a.principal_id.as_str())
            .or_default()
            .push((resource, value));
    }
    let mut consented: HashSet<(&str, &str, &str)> = HashSet::new();
    for g in &tenant.grants {
        for scope in g.scope.as_deref().unwrap_or_default().split_whitespace() {
            consented.insert((g.client_id.as_str(), g.resource_id.as_str(), scope));
        }
    }
    let registered: HashSet<Uuid> = tenant.applications.iter().map(|a| a.app_id).collect();

    for app in &tenant.applications {
        let object = Object {
            kind: "application",
            id: app.id.clone(),
            app_id: app.app_id,
            display_name: app.display_name.clone().unwrap_or_default(),
            managed_by: app.managed_by().map(str::to_string),
        };
        let names = names(app);
        let sp = sp_by_app.get(&app.app_id).copied();
        judge.application(app, &object, &names, tenant);
        let grants = sp.and_then(|sp| granted.get(sp.id.as_str()));
        judge.granted(
            &object,
            &names,
            grants.map(Vec::as_slice).unwrap_or_default(),
        );
        judge.unconsented(app, sp, &object, &names, &sp_by_app, &granted, &consented);
        if let Some(sp) = sp {
            judge.service_principal_secrets(sp, &object, &names);
        }
    }
    // Enterprise applications without a registration here: other tenants' apps consented to,
    // and Microsoft's own (skipped).
    for sp in &tenant.service_principals {
        if registered.contains(&sp.app_id)
            || sp.app_owner_organization_id.as_deref() == Some(MICROSOFT_TENANT)
        {
            continue;
        }
        let object = Object {
            kind: "servicePrincipal",
            id: sp.id.clone(),
            app_id: sp.app_id,
            display_name: sp.display_name.clone().unwrap_or_default(),
            managed_by: None,
        };
        let app_id = sp.app_id.to_string();
        let names = vec![app_id.as_str(), object.display_name.as_str()];
        let grants = granted.get(sp.id.as_str());
        judge.granted(
            &object,
            &names,
            grants.map(Vec::as_slice).unwrap_or_default(),
        );
        judge.service_principal_secrets(sp, &object, &names);
    }
    let mut findings = judge.findings;
    findings.sort_by(|a, b| {
        (a.rule.id, &a.object.display_name, &a.object.id, &a.subject).cmp(&(
            b.rule.id,
            &b.object.display_name,
            &b.object.id,
            &b.subject,
        ))
    });
    findings.dedup_by(|a, b| {
        a.rule.id == b.rule.id && a.object.id == b.object.id && a.subject == b.subject
    });
    Judged {
        findings,
        allowed: judge.allowed,
    }
}

/// The names an allowance may use for an app besides its appId: display name, uniqueName.
fn names(app: &Application) -> Vec<&str> {
    let mut names = Vec::new();
    names.extend(app.display_name.as_deref());
    names.extend(app.unique_name.as_deref());
    names
}

struct Judge<'p> {
    policy: &'p Policy,
    now: DateTime<Utc>,
    findings: Vec<Finding>,
    allowed: usize,
}

impl Judge<'_> {
    fn report(
        &mut self,
        rule: &'static Rule,
        object: &Object,
        names: &[&str],
        subject: Option<String>,
        message: String,
    ) {
        let Some(level) = self.policy.level(rule) else {
            return;
        };
        let app_id = object.app_id.to_string();
        let mut all = names.to_vec();
        all.push(&app_id);
        if self
            .policy
            .allowance(rule.id, &all, subject.as_deref())
            .is_some()
        {
            self.allowed += 1;
            return;
        }
        self.findings.push(Finding {
            rule,
            level,
            object: object.clone(),
            subject,
            message,
        });
    }

    fn application(&mut self, app: &Application, object: &Object, names: &[&str], tenant: &Tenant) {
        let policy = self.policy;
        for secret in app.secrets() {
            self.credential(secret, object, names, true);
            if let (Some(start), Some(end)) = (secret.start_date_time, secret.end_date_time)
                && policy
                    .max_secret_lifetime
                    .after(start)
                    .is_some_and(|limit| end > limit)
            {
                self.report(
                    &rules::SECRET_LIFETIME,
                    object,
                    names,
                    Some(secret.name()),
                    format!(
                        "secret `{}` is valid for {} days, longer than the policy allows",
                        secret.name(),
                        (end - start).num_days()
                    ),
                );
            }
            if let (Some(start), Some(end)) = (secret.start_date_time, secret.end_date_time)
                && end > self.now
                && policy
                    .max_secret_age
                    .after(start)
                    .is_some_and(|limit| self.now > limit)
            {
                self.report(
                    &rules::SECRET_NOT_ROTATED,
                    object,
                    names,
                    Some(secret.name()),
                    format!(
                        "secret `{}` has not been replaced for {} days",
                        secret.name(),
                        (self.now - start).num_days()
                    ),
                );
            }
        }
        for certificate in app.certificates() {
            self.credential(certificate, object, names, false);
        }
        let live_secret = app
            .secrets()
            .iter()
            .any(|s| s.end_date_time.is_none_or(|end| end > self.now));
        let audience = app.sign_in_audience.as_deref().unwrap_or("AzureADMyOrg");
        if live_secret && audience != "AzureADMyOrg" {
            self.report(
                &rules::MULTITENANT_SECRET,
                object,
                names,
                None,
                format!(
                    "`{}` accepts other organisations ({audience}) and has a live client secret",
                    object.display_name
                ),
            );
        }
        if app.owner_count() == 0 {
            self.report(
                &rules::NO_OWNER,
                object,
                names,
                None,
                format!("`{}` has no owner", object.display_name),
            );
        }
        if let Some(grant) = app
            .web
            .as_ref()
            .and_then(|w| w.implicit_grant_settings.as_ref())
            && (grant.enable_access_token_issuance == Some(true)
                || grant.enable_id_token_issuance == Some(true))
        {
            self.report(
                &rules::IMPLICIT_GRANT,
                object,
                names,
                None,
                format!("`{}` has the implicit grant enabled", object.display_name),
            );
        }
        for (platform, uri) in app.redirect_uris() {
            if uri.contains('*') {
                self.report(
                    &rules::WILDCARD_REDIRECT,
                    object,
                    names,
                    Some(uri.to_string()),
                    format!("{platform} redirect URI `{uri}` has a wildcard"),
                );
            }
            if is_localhost(uri) {
                if policy.production {
                    self.report(
                        &rules::LOCALHOST_REDIRECT,
                        object,
                        names,
                        Some(uri.to_string()),
                        format!("{platform} redirect URI `{uri}` is on localhost"),
                    );
                }
                continue;
            }
            if let Some(host) = outside_host(uri, &tenant.verified_domains) {
                self.report(
                    &rules::REDIRECT_UNVERIFIED_HOST,
                    object,
                    names,
                    Some(host.clone()),
                    format!("{platform} redirect URI `{uri}` is on `{host}`, outside the tenant's verified domains"),
                );
            }
        }
        if let Some(tag) = policy.missing_tag(app.tags()) {
            self.report(
                &rules::MISSING_TAG,
                object,
                names,
                Some(tag.to_string()),
                format!(
                    "`{}` lacks the tag `{tag}` the policy requires",
                    object.display_name
                ),
            );
        }
    }

    /// Expired and expiring credentials.
    fn credential(
        &mut self,
        credential: &Credential,
        object: &Object,
        names: &[&str],
        secret: bool,
    ) {
        let Some(end) = credential.end_date_time else {
            return;
        };
        let what = if secret { "secret" } else { "certificate" };
        if end <= self.now {
            self.report(
                &rules::CREDENTIAL_EXPIRED,
                object,
                names,
                Some(credential.name()),
                format!(
                    "{what} `{}` expired on {}",
                    credential.name(),
                    end.date_naive()
                ),
            );
        } else if self
            .policy
            .expiry_warning
            .after(self.now)
            .is_some_and(|soon| end <= soon)
        {
            let rule = if secret {
                &rules::SECRET_EXPIRING
            } else {
                &rules::CERTIFICATE_EXPIRING
            };
            self.report(
                rule,
                object,
                names,
                Some(credential.name()),
                format!(
                    "{what} `{}` expires on {} ({} days)",
                    credential.name(),
                    end.date_naive(),
                    (end - self.now).num_days()
                ),
            );
        }
    }

    /// Granted high-privilege application permissions.
    fn granted(&mut self, object: &Object, names: &[&str], grants: &[(&ServicePrincipal, String)]) {
        for (resource, value) in grants {
            if let Some(listed) =
                privilege::high_privilege(resource.app_id, PermissionKind::Application, value)
            {
                self.report(
                    &rules::HIGH_PRIVILEGE_PERMISSION,
                    object,
                    names,
                    Some(value.clone()),
                    format!(
                        "`{value}` of {} is granted as an application permission: {}",
                        listed.resource, listed.why
                    ),
                );
            }
        }
    }

    /// Permissions in `requiredResourceAccess` nobody consented to.
    #[allow(clippy::too_many_arguments)]
    fn unconsented(
        &mut self,
        app: &Application,
        sp: Option<&ServicePrincipal>,
        object: &Object,
        names: &[&str],
        sp_by_app: &HashMap<Uuid, &ServicePrincipal>,
        granted: &HashMap<&str, Vec<(&ServicePrincipal, String)>>,
        consented: &HashSet<(&str, &str, &str)>,
    ) {
        for required in app.required() {
            let Some(resource) = sp_by_app.get(&required.resource_app_id) else {
                continue;
            };
            let resource_name = resource.display_name.clone().unwrap_or_default();
            for access in super::list(&required.resource_access) {
                let (value, done) = if access.kind == "Role" {
                    let value = resource
                        .app_roles()
                        .iter()
                        .find(|r| r.id == access.id)
                        .and_then(|r| r.value.clone());
                    let done = sp.is_some_and(|sp| {
                        granted.get(sp.id.as_str()).is_some_and(|g| {
                            g.iter()
                                .any(|(r, v)| r.id == resource.id && Some(v) == value.as_ref())
                        })
                    });
                    (value, done)
                } else {
                    let value = resource
                        .scopes()
                        .iter()
                        .find(|s| s.id == access.id)
                        .and_then(|s| s.value.clone());
                    let done = sp.is_some_and(|sp| {
                        value.as_deref().is_some_and(|v| {
                            consented.contains(&(sp.id.as_str(), resource.id.as_str(), v))
                        })
                    });
                    (value, done)
                };
                if done {
                    continue;
                }
                let value = value.unwrap_or_else(|| access.id.to_string());
                let kind = if access.kind == "Role" {
                    "application"
                } else {
                    "delegated"
                };
                self.report(
                    &rules::UNCONSENTED_PERMISSION,
                    object,
                    names,
                    Some(value.clone()),
                    format!("{kind} permission `{value}` of {resource_name} is requested but not consented"),
                );
            }
        }
    }

    fn service_principal_secrets(
        &mut self,
        sp: &ServicePrincipal,
        object: &Object,
        names: &[&str],
    ) {
        for secret in sp.secrets() {
            self.report(
                &rules::SERVICE_PRINCIPAL_CREDENTIAL,
                object,
                names,
                Some(secret.name()),
                format!(
                    "the service principal of `{}` holds secret `{}`, which the app registration does not show",
                    object.display_name,
                    secret.name()
                ),
            );
        }
    }
}

/// The host of an http(s) redirect URI when it is not a verified domain or below one, nor
/// Microsoft's own sign-in host (the native-client redirect).
pub fn outside_host(uri: &str, verified: &[String]) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    let under = |domain: &str| {
        let domain = domain.to_ascii_lowercase();
        host == domain || host.ends_with(&format!(".{domain}"))
    };
    if under("login.microsoftonline.com") || verified.iter().any(|d| under(d)) {
        return None;
    }
    Some(host)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::catalogue::{EXCHANGE_ONLINE_APP_ID, MICROSOFT_GRAPH_APP_ID};

    const NOW: &str = "2026-12-01T00:00:00Z";
    const APP: &str = "11111111-1111-1111-1111-111111111111";
    const EWS_ROLE: &str = "dc890d15-9560-4a4c-9b7f-a736ec74ec40";
    const USER_READ: &str = "e1fe6dd8-ba31-4d61-89e7-88639da4683d";

    fn now() -> DateTime<Utc> {
        NOW.parse().unwrap()
    }

    /// A credential made `age` days before NOW, valid for `life` days.
    fn credential(name: &str, age: i64, life: i64) -> Value {
        let start = now() - chrono::Duration::days(age);
        json!({"displayName": name, "keyId": name, "startDateTime": start, "endDateTime": start + chrono::Duration::days(life)})
    }

    /// An application that passes every rule: owned, single tenant, a young short secret, a
    /// redirect on a verified domain, every requested permission consented.
    fn clean_app() -> Value {
        json!({
            "id": "app-object", "appId": APP, "displayName": "Clean", "signInAudience": "AzureADMyOrg",
            "passwordCredentials": [credential("s", 10, 180)], "keyCredentials": [credential("c", 10, 365)],
            "web": {"redirectUris": ["https://app.contoso.com/cb"], "implicitGrantSettings": {"enableAccessTokenIssuance": false, "enableIdTokenIssuance": false}},
            "spa": {"redirectUris": []}, "publicClient": {"redirectUris": []},
            "requiredResourceAccess": [{"resourceAppId": MICROSOFT_GRAPH_APP_ID, "resourceAccess": [{"id": USER_READ, "type": "Scope"}]}],
            "tags": ["team=crm"], "owners": [{"id": "owner"}],
        })
    }

    fn tenant(app: Value, sp_secrets: Value, extra_assignment: bool) -> Tenant {
        let resources = json!([
            {"id": "graph-sp", "appId": MICROSOFT_GRAPH_APP_ID, "displayName": "Microsoft Graph", "appOwnerOrganizationId": MICROSOFT_TENANT,
             "appRoles": [], "oauth2PermissionScopes": [{"id": USER_READ, "value": "User.Read"}]},
            {"id": "exo-sp", "appId": EXCHANGE_ONLINE_APP_ID, "displayName": "Office 365 Exchange Online", "appOwnerOrganizationId": MICROSOFT_TENANT,
             "appRoles": [{"id": EWS_ROLE, "value": "full_access_as_app"}], "oauth2PermissionScopes": []},
            {"id": "client-sp", "appId": APP, "displayName": "Clean", "passwordCredentials": sp_secrets},
        ]);
        let mut assignments = Vec::new();
        if extra_assignment {
            assignments.push(
                json!({"principalId": "client-sp", "resourceId": "exo-sp", "appRoleId": EWS_ROLE}),
            );
        }
        Tenant {
            applications: vec![serde_json::from_value(app).unwrap()],
            service_principals: serde_json::from_value(resources).unwrap(),
            grants: serde_json::from_value(
                json!([{"clientId": "client-sp", "resourceId": "graph-sp", "scope": "User.Read"}]),
            )
            .unwrap(),
            assignments: serde_json::from_value(Value::Array(assignments)).unwrap(),
            verified_domains: vec!["contoso.com".into()],
        }
    }

    fn rules_found(tenant: &Tenant, policy: &Policy) -> Vec<&'static str> {
        judge(tenant, policy, now())
            .findings
            .iter()
            .map(|f| f.rule.id)
            .collect()
    }

    #[test]
    fn the_clean_tenant_has_no_findings() {
        let policy = Policy {
            required_tags: vec!["team".into()],
            production: true,
            ..Policy::default()
        };
        assert_eq!(
            rules_found(&tenant(clean_app(), json!([]), false), &policy),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn each_tenant_rule_fires_on_its_shape() {
        let policy = Policy {
            required_tags: vec!["team".into()],
            production: true,
            ..Policy::default()
        };
        // (rule, change to the clean app, secrets on its service principal, EWS granted, why)
        type Change = fn(&mut Value);
        let cases: [(&str, Change, Value, bool, &str); 14] = [
            (
                "high-privilege-permission",
                |_| {},
                json!([]),
                true,
                "full_access_as_app granted",
            ),
            (
                "secret-lifetime",
                |a| a["passwordCredentials"] = json!([credential("s", 10, 730)]),
                json!([]),
                false,
                "two years",
            ),
            (
                "secret-not-rotated",
                |a| a["passwordCredentials"] = json!([credential("s", 200, 365)]),
                json!([]),
                false,
                "made 200 days ago",
            ),
            (
                "credential-expired",
                |a| a["passwordCredentials"] = json!([credential("s", 200, 180)]),
                json!([]),
                false,
                "ended 20 days ago",
            ),
            (
                "secret-expiring",
                |a| a["passwordCredentials"] = json!([credential("s", 170, 180)]),
                json!([]),
                false,
                "10 days left",
            ),
            (
                "certificate-expiring",
                |a| a["keyCredentials"] = json!([credential("c", 350, 365)]),
                json!([]),
                false,
                "15 days left",
            ),
            (
                "multitenant-secret",
                |a| a["signInAudience"] = json!("AzureADMultipleOrgs"),
                json!([]),
                false,
                "other organisations",
            ),
            (
                "no-owner",
                |a| a["owners"] = json!([]),
                json!([]),
                false,
                "owners empty",
            ),
            (
                "implicit-grant",
                |a| a["web"]["implicitGrantSettings"]["enableIdTokenIssuance"] = json!(true),
                json!([]),
                false,
                "id tokens",
            ),
            (
                "redirect-unverified-host",
                |a| a["web"]["redirectUris"] = json!(["https://contoso.com.evil.example/cb"]),
                json!([]),
                false,
                "suffix trick",
            ),
            (
                "localhost-redirect",
                |a| a["publicClient"]["redirectUris"] = json!(["http://127.0.0.1:8400"]),
                json!([]),
                false,
                "production policy",
            ),
            (
                "wildcard-redirect",
                |a| a["web"]["redirectUris"] = json!(["https://*.contoso.com/cb"]),
                json!([]),
                false,
                "wildcard",
            ),
            (
                "unconsented-permission",
                |a| {
                    a["requiredResourceAccess"][0]["resourceAccess"] = json!([{"id": USER_READ, "type": "Scope"}, {"id": EWS_ROLE, "type": "Role"}])
                },
                json!([]),
                false,
                "wrong resource: role id unknown to Graph",
            ),
            (
                "missing-tag",
                |a| a["tags"] = json!(["teams"]),
                json!([]),
                false,
                "tag prefix is not the tag",
            ),
        ];
        for (rule, change, sp_secrets, granted, why) in cases {
            let mut app = clean_app();
            change(&mut app);
            let found = rules_found(&tenant(app, sp_secrets, granted), &policy);
            assert!(
                found.contains(&rule),
                "{rule} ({why}) not reported: {found:?}"
            );
            assert!(
                found
                    .iter()
                    .all(|r| *r == rule
                        || rule == "credential-expired" && *r == "secret-not-rotated"),
                "{rule}: only it: {found:?}"
            );
        }
        let found = rules_found(
            &tenant(clean_app(), json!([credential("backdoor", 1, 30)]), false),
            &policy,
        );
        assert_eq!(found, ["service-principal-credential"]);
    }

    #[test]
    fn unconsented_permission_needs_a_missing_grant() {
        // The clean app requests User.Read and the tenant granted it; without the grant it is a finding.
        let mut t = tenant(clean_app(), json!([]), false);
        assert!(!rules_found(&t, &Policy::default()).contains(&"unconsented-permission"));
        t.grants.clear();
        assert_eq!(
            rules_found(&t, &Policy::default()),
            ["unconsented-permission"]
        );
        // Requested and granted application permission: high privilege, but consented.
        let mut app = clean_app();
        app["requiredResourceAccess"] = json!([{"resourceAppId": EXCHANGE_ONLINE_APP_ID, "resourceAccess": [{"id": EWS_ROLE, "type": "Role"}]}]);
        assert_eq!(
            rules_found(&tenant(app, json!([]), true), &Policy::default()),
            ["high-privilege-permission"]
        );
    }

    #[test]
    fn policy_levels_allowances_and_foreign_principals() {
        let t = tenant(clean_app(), json!([]), true);
        let mut policy = Policy::default();
        policy
            .levels
            .insert("high-privilege-permission".into(), Some(Level::Error));
        let judged = judge(&t, &policy, now());
        assert_eq!(judged.findings[0].level, Level::Error);
        policy.allow.push(crate::model::policy::Allowance {
            rule: "high-privilege-permission".into(),
            app: APP.into(),
            subject: Some("full_access_as_app".into()),
            justification: "restricted by an application access policy".into(),
        });
        let judged = judge(&t, &policy, now());
        assert!(judged.findings.is_empty());
        assert_eq!(judged.allowed, 1);
        // A localhost redirect is only a finding in production.
        let mut app = clean_app();
        app["publicClient"]["redirectUris"] = json!(["http://localhost:8400"]);
        assert!(rules_found(&tenant(app, json!([]), false), &Policy::default()).is_empty());
        // Another tenant's app consented here, with no registration: its grants still count;
        // Microsoft's own principals are skipped.
        let mut t = tenant(clean_app(), json!([]), true);
        t.applications.clear();
        let found = judge(&t, &Policy::default(), now()).findings;
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].object.kind, "servicePrincipal");
    }
}
