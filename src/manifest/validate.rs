//! Semantic rules a JSON Schema cannot state: Graph's limits (GRAPH.md, "Validation rules"), URI
//! rules by sign-in audience, durations, references between fields, and permission names checked
//! against the offline catalogue.
//!
//! Each rule reports at the offending value and keeps going, so one run shows every problem.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::diagnostic::{Diagnostic, closest};
use super::source::{Location, SourceFile};
use super::wire::{self, SignInAudience};
use super::yaml::{Node, Step};
use crate::catalogue::{self, PermissionKind};
use crate::model::Period;

/// High-privilege permissions, acknowledgements, retiring and retired APIs.
pub(super) mod permissions;
/// The `policy:` section and the rules it switches on.
pub(super) mod policy;

/// An app as loaded, with where it came from.
pub struct AppSource<'a> {
    pub key: &'a str,
    pub app: &'a wire::App,
    pub file: &'a Arc<SourceFile>,
    /// The app's mapping in the file.
    pub node: &'a Node,
    pub key_span: std::ops::Range<usize>,
}

fn key(k: &str) -> Step {
    Step::Key(k.to_string())
}

fn index(i: usize) -> Step {
    Step::Index(i)
}

struct Rules<'a, 'o> {
    source: &'a AppSource<'a>,
    out: &'o mut Vec<Diagnostic>,
}

impl Rules<'_, '_> {
    /// The location of the value at `path` inside the app, or of its nearest ancestor that exists.
    fn at(&self, path: &[Step]) -> Location {
        let span = (0..=path.len())
            .rev()
            .find_map(|n| {
                self.source
                    .node
                    .at(&path[..n])
                    .map(|node| node.span.clone())
            })
            .unwrap_or_else(|| self.source.key_span.clone());
        Location {
            file: self.source.file.clone(),
            span,
        }
    }

    fn error(
        &mut self,
        code: &'static str,
        path: &[Step],
        message: impl Into<String>,
        label: &str,
    ) -> &mut Diagnostic {
        let diagnostic = Diagnostic::error(code, Some(self.at(path)), message).with_label(label);
        self.out.push(diagnostic);
        self.out.last_mut().expect("just pushed")
    }

    fn warning(
        &mut self,
        code: &'static str,
        path: &[Step],
        message: impl Into<String>,
        label: &str,
    ) -> &mut Diagnostic {
        let diagnostic = Diagnostic::warning(code, Some(self.at(path)), message).with_label(label);
        self.out.push(diagnostic);
        self.out.last_mut().expect("just pushed")
    }

    fn max_chars(&mut self, path: &[Step], what: &str, value: &str, max: usize) {
        let n = value.chars().count();
        if n > max {
            self.error(
                "too-long",
                path,
                format!("{what} is {n} characters long, Graph allows {max}"),
                "too long",
            );
        }
    }

    fn no_duplicates<'v>(
        &mut self,
        path: &[Step],
        what: &str,
        values: impl IntoIterator<Item = &'v str>,
    ) {
        let mut seen = HashSet::new();
        let mut reported = HashSet::new();
        for (i, value) in values.into_iter().enumerate() {
            // One report per repeated value, however often it repeats.
            if !seen.insert(value) && reported.insert(value) {
                let mut p = path.to_vec();
                p.push(index(i));
                self.error(
                    "duplicate-value",
                    &p,
                    format!("{what} `{value}` is listed twice"),
                    "duplicate",
                )
                .help = Some("remove one of them".into());
            }
        }
    }
}

/// Checks one app. `audience` decides the limits that depend on personal accounts.
pub fn check_app(source: &AppSource, out: &mut Vec<Diagnostic>) {
    let mut rules = Rules { source, out };
    let app = source.app;
    let audience = app.sign_in_audience.unwrap_or(SignInAudience::AzureADMyOrg);
    let personal = matches!(
        audience,
        SignInAudience::AzureADandPersonalMicrosoftAccount
            | SignInAudience::PersonalMicrosoftAccount
    );

    check_identity(&mut rules, app, personal);
    check_uris(&mut rules, app, personal);
    check_api(&mut rules, app, personal);
    check_permissions(&mut rules, app, personal);
    check_service_principal(&mut rules, app);
    check_secrets(&mut rules, app, personal);
    check_certificates(&mut rules, app);
    check_federated_credentials(&mut rules, app);
}

/// The identity the app has in the tenant: its key (or `uniqueName`).
pub fn unique_name<'a>(key: &'a str, app: &'a wire::App) -> &'a str {
    app.unique_name.as_deref().unwrap_or(key)
}

fn is_unique_name(name: &str) -> bool {
    (1..=120).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn check_identity(rules: &mut Rules, app: &wire::App, personal: bool) {
    let key_name = rules.source.key;
    if app.unique_name.is_none() && !is_unique_name(key_name) {
        let location = Location {
            file: rules.source.file.clone(),
            span: rules.source.key_span.clone(),
        };
        rules.out.push(
            Diagnostic::error(
                "bad-app-key",
                Some(location),
                format!("app key `{key_name}` cannot be a uniqueName"),
            )
            .with_label("becomes the uniqueName")
            .with_help(
                "use 1-120 letters, digits, `-`, `_` or `.`, or set `uniqueName:` explicitly",
            ),
        );
    }
    if let Some(name) = &app.unique_name
        && !is_unique_name(name)
    {
        rules
            .error(
                "bad-unique-name",
                &[key("uniqueName")],
                format!("`{name}` is not a valid uniqueName"),
                "invalid",
            )
            .help = Some("use 1-120 letters, digits, `-`, `_` or `.`".into());
    }
    if let Some(adopt) = &app.adopt
        && uuid::Uuid::parse_str(adopt.app_id()).is_err()
    {
        let at: &[Step] = match adopt {
            wire::Adopt::AppId(_) => &[key("adopt")],
            wire::Adopt::FromSet(_) => &[key("adopt"), key("appId")],
        };
        let id = adopt.app_id();
        rules
            .error(
                "bad-guid",
                at,
                format!("`adopt` must name an application (client) id, `{id}` is not a GUID"),
                "not a GUID",
            )
            .help = Some("copy the Application (client) ID from the app's overview page".into());
    }

    let name = &app.display_name;
    let (limit, soft) = if personal { (90, 90) } else { (256, 120) };
    let n = name.chars().count();
    if name.trim().is_empty() {
        rules.error(
            "empty-value",
            &[key("displayName")],
            "`displayName` must not be empty",
            "empty",
        );
    } else if n > limit {
        let why = if personal {
            " for apps that allow personal accounts"
        } else {
            ""
        };
        rules.error(
            "too-long",
            &[key("displayName")],
            format!("`displayName` is {n} characters long, Graph allows {limit}{why}"),
            "too long",
        );
    } else if n > soft {
        // GRAPH.md: the validation page says 120, the resource page 256; the portal enforces 120.
        rules.warning(
            "long-display-name",
            &[key("displayName")],
            format!("`displayName` is {n} characters long; the portal only accepts {soft}"),
            "long",
        );
    }
    if let Some(text) = &app.description {
        rules.max_chars(&[key("description")], "`description`", text, 1024);
    }
    if let Some(text) = &app.notes {
        // Notes are free text for administrators: line breaks are fine, the length is not.
        let n = text.chars().count();
        if n > 1024 {
            rules.error(
                "too-long",
                &[key("notes")],
                format!("`notes` is {n} characters long, Graph allows 1024"),
                "too long",
            );
        }
    }

    for (i, tag) in app.tags.iter().enumerate() {
        let path = [key("tags"), index(i)];
        let n = tag.chars().count();
        if n == 0 || n > 256 {
            rules.error(
                "bad-tag",
                &path,
                format!("tag `{tag}` must be 1-256 characters"),
                "bad length",
            );
        } else if tag.chars().any(char::is_whitespace) {
            rules
                .error(
                    "bad-tag",
                    &path,
                    format!("tag `{tag}` contains whitespace"),
                    "whitespace",
                )
                .help = Some(format!(
                "Graph refuses whitespace in tags; try `{}`",
                tag.split_whitespace().collect::<Vec<_>>().join("-")
            ));
        } else if tag.to_lowercase().starts_with("appreg:") {
            rules
                .error(
                    "reserved-tag",
                    &path,
                    format!("tag `{tag}` uses appreg's reserved prefix"),
                    "reserved",
                )
                .help = Some(
                "appreg adds `appreg:managed` and `appreg:set=<name>` itself; remove this tag"
                    .into(),
            );
        }
    }
    rules.no_duplicates(&[key("tags")], "tag", app.tags.iter().map(String::as_str));

    check_owners(rules, &[key("owners")], &app.owners);
}

/// Owners (of the app or of its service principal) are well-formed and listed once each.
fn check_owners(rules: &mut Rules, base: &[Step], owners: &[wire::Owner]) {
    for (i, owner) in owners.iter().enumerate() {
        let mut path = base.to_vec();
        path.push(index(i));
        match owner {
            wire::Owner::User(upn) if !looks_like_upn(upn) => {
                rules
                    .error(
                        "bad-owner",
                        &path,
                        format!("owner `{upn}` is not a userPrincipalName"),
                        "not a UPN",
                    )
                    .help =
                    Some("write the user's sign-in name, such as `alex@contoso.com`".into());
            }
            wire::Owner::ServicePrincipal(app_id) if uuid::Uuid::parse_str(app_id).is_err() => {
                rules.error(
                    "bad-guid",
                    &path,
                    format!("service principal owner `{app_id}` is not an appId GUID"),
                    "not a GUID",
                );
            }
            _ => {}
        }
    }
    let owner_names: Vec<String> = owners.iter().map(owner_name).collect();
    rules.no_duplicates(base, "owner", owner_names.iter().map(String::as_str));
}

/// An owner as the manifest writes it, for messages (`user: alex@contoso.com`).
fn owner_name(owner: &wire::Owner) -> String {
    match owner {
        wire::Owner::User(upn) => format!("user: {upn}"),
        wire::Owner::ServicePrincipal(app_id) => format!("servicePrincipal: {app_id}"),
    }
}

fn looks_like_upn(text: &str) -> bool {
    let mut parts = text.split('@');
    matches!((parts.next(), parts.next(), parts.next()), (Some(user), Some(domain), None)
        if !user.is_empty() && domain.contains('.') && !text.chars().any(|c| c.is_whitespace() || c.is_control()))
}

#[derive(Clone, Copy, PartialEq)]
enum Platform {
    Web,
    Spa,
    PublicClient,
}

fn check_uris(rules: &mut Rules, app: &wire::App, personal: bool) {
    let platforms = [
        (
            Platform::Web,
            "web",
            app.web.as_ref().map(|w| &w.redirect_uris),
        ),
        (
            Platform::Spa,
            "spa",
            app.spa.as_ref().map(|s| &s.redirect_uris),
        ),
        (
            Platform::PublicClient,
            "publicClient",
            app.public_client.as_ref().map(|p| &p.redirect_uris),
        ),
    ];
    let mut total = 0;
    for (platform, name, uris) in platforms {
        let Some(uris) = uris else { continue };
        total += uris.len();
        for (i, uri) in uris.iter().enumerate() {
            let path = [key(name), key("redirectUris"), index(i)];
            if let Err((message, help)) = redirect_uri_problem(uri, platform, personal) {
                let diagnostic = rules.error(
                    "bad-redirect-uri",
                    &path,
                    format!("redirect URI `{uri}` {message}"),
                    "invalid redirect URI",
                );
                diagnostic.help = help;
            }
        }
        rules.no_duplicates(
            &[key(name), key("redirectUris")],
            "redirect URI",
            uris.iter().map(String::as_str),
        );
    }
    let limit = if personal { 100 } else { 256 };
    if total > limit {
        rules.error(
            "too-many",
            &[],
            format!("the app has {total} redirect URIs, Graph allows {limit} for its audience"),
            "too many redirect URIs",
        );
    }

    if let Some(web) = &app.web {
        for (field, value) in [
            ("homePageUrl", &web.home_page_url),
            ("logoutUrl", &web.logout_url),
        ] {
            if let Some(url) = value {
                check_web_url(rules, &[key("web"), key(field)], url);
            }
        }
    }
    if let Some(info) = &app.info {
        let fields = [
            ("marketingUrl", &info.marketing_url),
            ("privacyStatementUrl", &info.privacy_statement_url),
            ("supportUrl", &info.support_url),
            ("termsOfServiceUrl", &info.terms_of_service_url),
        ];
        for (field, value) in fields {
            if let Some(url) = value {
                check_web_url(rules, &[key("info"), key(field)], url);
            }
        }
    }

    let (uri_limit, count_limit) = if personal {
        (120, 50)
    } else {
        (255, usize::MAX)
    };
    if app.identifier_uris.len() > count_limit {
        rules.error(
            "too-many",
            &[key("identifierUris")],
            format!(
                "{} identifierUris, Graph allows {count_limit} with personal accounts",
                app.identifier_uris.len()
            ),
            "too many",
        );
    }
    for (i, uri) in app.identifier_uris.iter().enumerate() {
        let path = [key("identifierUris"), index(i)];
        let n = uri.chars().count();
        let parsed = url::Url::parse(uri);
        if parsed.is_err() {
            rules
                .error(
                    "bad-identifier-uri",
                    &path,
                    format!("identifierUri `{uri}` is not an absolute URI"),
                    "not a URI",
                )
                .help = Some("use `api://<name>` or `https://<verified domain>/<path>`".into());
        } else if n > uri_limit {
            rules.error("too-long", &path, format!("identifierUri is {n} characters long, Graph allows {uri_limit} for this audience"), "too long");
        } else if personal && (uri.starts_with("urn:") || uri.contains(['*', '?', '#'])) {
            rules.error("bad-identifier-uri", &path, format!("identifierUri `{uri}` has a urn scheme, wildcard, query or fragment, which personal-account apps cannot use"), "not allowed with personal accounts");
        } else if uri.contains(char::is_whitespace) {
            rules.error(
                "bad-identifier-uri",
                &path,
                format!("identifierUri `{uri}` contains whitespace"),
                "whitespace",
            );
        }
    }
    rules.no_duplicates(
        &[key("identifierUris")],
        "identifierUri",
        app.identifier_uris.iter().map(String::as_str),
    );
}

/// Graph's redirect URI rules (GRAPH.md): https, or http on localhost/127.0.0.1; no `! $ ' ( ) , ;`;
/// query strings and wildcards only for organisation-only apps; `[::1]` unsupported. Native
/// (public client) apps may also use custom schemes such as `msal<appId>://auth`.
fn redirect_uri_problem(
    uri: &str,
    platform: Platform,
    personal: bool,
) -> Result<(), (String, Option<String>)> {
    let n = uri.chars().count();
    if n > 256 {
        return Err((format!("is {n} characters long; Graph allows 256"), None));
    }
    if let Some(c) = uri.chars().find(|c| "!$'(),;".contains(*c)) {
        return Err((
            format!("contains `{c}`, which Graph refuses in redirect URIs"),
            Some("percent-encode the character or remove it".into()),
        ));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(("contains whitespace or control characters".into(), None));
    }
    let parsed = url::Url::parse(uri).map_err(|e| {
        (
            format!("is not an absolute URI ({e})"),
            Some("write the full URI, such as https://app.example.com/callback".into()),
        )
    })?;
    let host = parsed.host_str().unwrap_or_default();
    match parsed.scheme() {
        "https" => {}
        "http" if host == "localhost" || host == "127.0.0.1" => {}
        "http" if host == "[::1]" => {
            return Err((
                "uses `[::1]`, which Entra ID does not support".into(),
                Some("use http://localhost or http://127.0.0.1 instead".into()),
            ));
        }
        "http" => {
            return Err((
                "uses http on a host other than localhost".into(),
                Some(format!("use https://{}", &uri["http://".len()..])),
            ));
        }
        _ if platform == Platform::PublicClient => {}
        scheme => {
            return Err((
                format!("uses the `{scheme}` scheme; this platform needs https"),
                Some("custom schemes belong under `publicClient`".into()),
            ));
        }
    }
    if personal && parsed.query().is_some() {
        return Err((
            "has a query string, which apps allowing personal accounts cannot use".into(),
            None,
        ));
    }
    if uri.contains('*') {
        if personal {
            return Err((
                "has a wildcard, which apps allowing personal accounts cannot use".into(),
                None,
            ));
        }
        if platform != Platform::Web {
            return Err((
                "has a wildcard; only web redirect URIs of organisation-only apps may".into(),
                None,
            ));
        }
    }
    Ok(())
}

fn check_web_url(rules: &mut Rules, path: &[Step], url: &str) {
    let problem = match url::Url::parse(url) {
        Err(_) => Some("is not an absolute URL"),
        Ok(u) if u.scheme() == "https" => None,
        Ok(u)
            if u.scheme() == "http" && matches!(u.host_str(), Some("localhost" | "127.0.0.1")) =>
        {
            None
        }
        Ok(_) => Some("must use https"),
    };
    if let Some(problem) = problem {
        rules.error("bad-url", path, format!("`{url}` {problem}"), "invalid URL");
    }
}

fn check_api(rules: &mut Rules, app: &wire::App, personal: bool) {
    let version = app
        .api
        .as_ref()
        .and_then(|a| a.requested_access_token_version);
    if personal && version != Some(2) {
        let path = if version.is_some() {
            vec![key("api"), key("requestedAccessTokenVersion")]
        } else {
            vec![key("signInAudience")]
        };
        rules
            .error(
                "token-version",
                &path,
                "apps that allow personal Microsoft accounts need access token version 2",
                "needs v2 tokens",
            )
            .help = Some("add `api: { requestedAccessTokenVersion: 2 }`".into());
    }
    if personal && !app.app_roles.is_empty() {
        rules
            .error(
                "roles-with-personal-accounts",
                &[key("appRoles")],
                "app roles are not supported for apps that allow personal Microsoft accounts",
                "not supported",
            )
            .help = Some(
            "remove `appRoles`, or use signInAudience AzureADMyOrg or AzureADMultipleOrgs".into(),
        );
    }

    let mut ids: HashMap<String, Vec<Step>> = HashMap::new();
    let mut check_id = |rules: &mut Rules, path: Vec<Step>, id: &Option<String>| {
        let Some(id) = id else { return };
        if uuid::Uuid::parse_str(id).is_err() {
            rules.error(
                "bad-guid",
                &path,
                format!("`{id}` is not a GUID"),
                "not a GUID",
            );
        } else if ids.insert(id.to_lowercase(), path.clone()).is_some() {
            rules.error(
                "duplicate-value",
                &path,
                format!("id `{id}` is used twice among this app's scopes and roles"),
                "duplicate id",
            );
        }
    };

    let scopes = app
        .api
        .as_ref()
        .map(|a| a.scopes.as_slice())
        .unwrap_or_default();
    for (i, scope) in scopes.iter().enumerate() {
        let path = vec![key("api"), key("scopes"), index(i)];
        check_id(rules, [path.clone(), vec![key("id")]].concat(), &scope.id);
        check_permission_value(
            rules,
            &[path.clone(), vec![key("value")]].concat(),
            &scope.value,
        );
        for (field, text) in [
            ("adminConsentDisplayName", &scope.admin_consent_display_name),
            ("adminConsentDescription", &scope.admin_consent_description),
        ] {
            if text.trim().is_empty() {
                rules.error(
                    "empty-value",
                    &[path.clone(), vec![key(field)]].concat(),
                    format!("`{field}` must not be empty"),
                    "empty",
                );
            }
        }
    }
    rules.no_duplicates(
        &[key("api"), key("scopes")],
        "scope",
        scopes.iter().map(|s| s.value.as_str()),
    );
    let pre = app
        .api
        .as_ref()
        .map(|a| a.pre_authorized_applications.as_slice())
        .unwrap_or_default();
    for (i, client) in pre.iter().enumerate() {
        let path = vec![key("api"), key("preAuthorizedApplications"), index(i)];
        if uuid::Uuid::parse_str(&client.app_id).is_err() {
            rules.error(
                "bad-guid",
                &[path.clone(), vec![key("appId")]].concat(),
                format!("`{}` is not an appId GUID", client.app_id),
                "not a GUID",
            );
        }
        for (j, value) in client.scopes.iter().enumerate() {
            if !scopes.iter().any(|s| &s.value == value) {
                let hint = closest(value, scopes.iter().map(|s| s.value.as_str()));
                rules
                    .error(
                        "unknown-scope",
                        &[path.clone(), vec![key("scopes"), index(j)]].concat(),
                        format!("`{value}` is not one of this app's scopes"),
                        "unknown scope",
                    )
                    .help = Some(match hint {
                    Some(h) => format!("did you mean `{h}`?"),
                    None => "pre-authorize values declared under `api.scopes`".into(),
                });
            }
        }
    }

    for (i, role) in app.app_roles.iter().enumerate() {
        let path = vec![key("appRoles"), index(i)];
        check_id(rules, [path.clone(), vec![key("id")]].concat(), &role.id);
        check_permission_value(
            rules,
            &[path.clone(), vec![key("value")]].concat(),
            &role.value,
        );
        if role.allowed_member_types.is_empty() {
            rules.error(
                "empty-value",
                &[path.clone(), vec![key("allowedMemberTypes")]].concat(),
                "`allowedMemberTypes` needs `User`, `Application` or both",
                "empty",
            );
        }
    }
    rules.no_duplicates(
        &[key("appRoles")],
        "app role",
        app.app_roles.iter().map(|r| r.value.as_str()),
    );
}

/// Scope and role values appear in tokens: no whitespace, no leading dot, at most 120 characters.
fn check_permission_value(rules: &mut Rules, path: &[Step], value: &str) {
    if value.is_empty()
        || value.chars().any(char::is_whitespace)
        || value.starts_with('.')
        || value.chars().count() > 120
    {
        rules
            .error(
                "bad-permission-value",
                path,
                format!("`{value}` is not a valid permission value"),
                "invalid value",
            )
            .help = Some(
            "use 1-120 characters without spaces and not starting with `.`, such as `Tasks.Read`"
                .into(),
        );
    }
}

fn check_permissions(rules: &mut Rules, app: &wire::App, personal: bool) {
    if app.permissions.len() > 50 {
        rules.error(
            "too-many",
            &[key("permissions")],
            format!("{} resource APIs, Graph allows 50", app.permissions.len()),
            "too many resources",
        );
    }
    let total: usize = app
        .permissions
        .values()
        .map(|p| p.delegated.len() + p.application.len())
        .sum();
    let total_limit = if personal { 200 } else { 400 };
    if total > total_limit {
        rules.error(
            "too-many",
            &[key("permissions")],
            format!("{total} permissions, Graph allows {total_limit} for this audience"),
            "too many permissions",
        );
    }
    check_admin_consent(rules, app);
    for (resource_name, requested) in &app.permissions {
        let base = [key("permissions"), key(resource_name)];
        if personal && requested.delegated.len() + requested.application.len() > 30 {
            rules.error("too-many", &base, "more than 30 permissions on one resource; apps allowing personal accounts are limited to 30", "too many");
        }
        for (kind, field, names) in [
            (PermissionKind::Delegated, "delegated", &requested.delegated),
            (
                PermissionKind::Application,
                "application",
                &requested.application,
            ),
        ] {
            rules.no_duplicates(
                &[base.to_vec(), vec![key(field)]].concat(),
                "permission",
                names.iter().map(String::as_str),
            );
            let Some(resource) = catalogue::resource(resource_name) else {
                continue;
            };
            for (i, name) in names.iter().enumerate() {
                let path = [base.to_vec(), vec![key(field), index(i)]].concat();
                check_permission_name(rules, &path, resource, kind, name);
            }
        }
    }
}

/// Consent that lists permissions grants exactly those: each must be requested under
/// `permissions` (Graph consents only to what an app requests).
fn check_admin_consent(rules: &mut Rules, app: &wire::App) {
    let Some(wire::AdminConsent::Granted(granted)) = &app.admin_consent else {
        return;
    };
    for (resource_name, consent) in granted {
        let base = [key("adminConsent"), key(resource_name)];
        let Some(requested) = app.permissions.get(resource_name) else {
            rules
                .error(
                    "consent-not-requested",
                    &base,
                    format!("consent to `{resource_name}`, which `permissions` does not name"),
                    "not requested",
                )
                .help = Some(
                "consent grants what the app requests: add the permissions under `permissions` first, with the resource written the same way".into(),
            );
            continue;
        };
        for (field, names, asked) in [
            ("delegated", &consent.delegated, &requested.delegated),
            ("application", &consent.application, &requested.application),
        ] {
            rules.no_duplicates(
                &[base.to_vec(), vec![key(field)]].concat(),
                "permission",
                names.iter().map(String::as_str),
            );
            for (i, name) in names.iter().enumerate() {
                if !asked.contains(name) {
                    rules
                        .error(
                            "consent-not-requested",
                            &[base.to_vec(), vec![key(field), index(i)]].concat(),
                            format!("consent to {field} permission `{name}` of `{resource_name}`, which `permissions` does not request"),
                            "not requested",
                        )
                        .help = Some(format!("add `{name}` under `permissions.{resource_name}.{field}`, or remove it here"));
                }
            }
        }
    }
}

fn check_permission_name(
    rules: &mut Rules,
    path: &[Step],
    resource: &catalogue::Resource,
    kind: PermissionKind,
    name: &str,
) {
    if resource.retired {
        // Every permission of a retired API is refused by `permissions`, with the replacement.
        return;
    }
    if resource.permission(kind, name).is_some() {
        return;
    }
    let other = match kind {
        PermissionKind::Delegated => PermissionKind::Application,
        PermissionKind::Application => PermissionKind::Delegated,
    };
    if resource.permission(other, name).is_some() {
        let message = format!(
            "`{name}` is {} permission of {}, not {} one",
            article(other),
            resource.name,
            article(kind)
        );
        rules
            .error("wrong-permission-kind", path, message, "wrong kind")
            .help = Some(format!("move it under `{other}:`"));
        return;
    }
    let message = format!("{} has no {kind} permission `{name}`", resource.name);
    let suggestion = resource
        .suggest(kind, name)
        .map(|s| format!("did you mean `{s}`?"));
    if resource.is_complete() {
        rules
            .error("unknown-permission", path, message, "unknown permission")
            .help = suggestion;
    } else {
        let message = format!("{message} in appreg's offline catalogue");
        rules
            .warning(
                "unknown-permission",
                path,
                message,
                "not in the offline catalogue",
            )
            .help = suggestion
            .or_else(|| Some("the tenant's service principal decides at plan time".to_string()));
    }
}

fn article(kind: PermissionKind) -> &'static str {
    match kind {
        PermissionKind::Delegated => "a delegated",
        PermissionKind::Application => "an application",
    }
}

fn check_service_principal(rules: &mut Rules, app: &wire::App) {
    if matches!(
        app.service_principal,
        Some(wire::ServicePrincipalDecl::Present(false))
    ) {
        let consents = match &app.admin_consent {
            None | Some(wire::AdminConsent::All(false)) => false,
            Some(wire::AdminConsent::All(true)) => true,
            Some(wire::AdminConsent::Granted(granted)) => !granted.is_empty(),
        };
        if consents {
            rules
                .error(
                    "needs-service-principal",
                    &[key("adminConsent")],
                    "admin consent is granted to the app's enterprise application, and `servicePrincipal: false` declares it has none",
                    "needs a service principal",
                )
                .help = Some(
                "remove `servicePrincipal: false` (appreg then creates the enterprise application) or remove `adminConsent`".into(),
            );
        }
        return;
    }
    let Some(sp) = app
        .service_principal
        .as_ref()
        .and_then(wire::ServicePrincipalDecl::settings)
    else {
        return;
    };
    let base = [key("servicePrincipal")];
    check_owners(rules, &[key("servicePrincipal"), key("owners")], &sp.owners);
    for (i, email) in sp.notification_emails.iter().enumerate() {
        if !looks_like_upn(email) {
            rules.error(
                "bad-email",
                &[base.to_vec(), vec![key("notificationEmails"), index(i)]].concat(),
                format!("`{email}` is not an email address"),
                "not an email address",
            );
        }
    }
    let mut seen = HashSet::new();
    for (i, assignment) in sp.assignments.iter().enumerate() {
        let path = [base.to_vec(), vec![key("assignments"), index(i)]].concat();
        match (&assignment.user, &assignment.group) {
            (Some(_), Some(_)) | (None, None) => {
                rules
                    .error(
                        "bad-assignment",
                        &path,
                        "an assignment names exactly one of `user` and `group`",
                        "needs one principal",
                    )
                    .help = Some("split it into one assignment per principal".into());
                continue;
            }
            (Some(user), None) if !looks_like_upn(user) => {
                rules.error(
                    "bad-assignment",
                    &[path.clone(), vec![key("user")]].concat(),
                    format!("`{user}` is not a userPrincipalName"),
                    "not a UPN",
                );
            }
            (None, Some(group)) if group.trim().is_empty() => {
                rules.error(
                    "empty-value",
                    &[path.clone(), vec![key("group")]].concat(),
                    "the group name is empty",
                    "empty",
                );
            }
            _ => {}
        }
        if let Some(role) = &assignment.role {
            let assignable = app.app_roles.iter().filter(|r| {
                r.allowed_member_types
                    .contains(&wire::AppRoleMemberType::User)
            });
            if !assignable.clone().any(|r| &r.value == role) {
                let hint = closest(role, assignable.map(|r| r.value.as_str()));
                rules.error("unknown-role", &[path.clone(), vec![key("role")]].concat(), format!("`{role}` is not one of this app's roles that users and groups can hold"), "unknown role")
                    .help = Some(match hint {
                    Some(h) => format!("did you mean `{h}`?"),
                    None => "declare it under `appRoles` with allowedMemberTypes [User], or omit `role` for default access".into(),
                });
            }
        }
        if !seen.insert((&assignment.user, &assignment.group, &assignment.role)) {
            rules.error(
                "duplicate-value",
                &path,
                "this assignment is listed twice",
                "duplicate",
            );
        }
    }
    if sp.assignment_required == Some(true) && sp.assignments.is_empty() {
        rules
            .warning(
                "nobody-assigned",
                &[base.to_vec(), vec![key("assignmentRequired")]].concat(),
                "assignment is required but nobody is assigned, so nobody can sign in",
                "no assignments",
            )
            .help = Some("add `assignments:` or set assignmentRequired to false".into());
    }
}

fn check_secrets(rules: &mut Rules, app: &wire::App, personal: bool) {
    // A fixed reference date makes month/year periods comparable.
    let reference = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    let mut names = HashMap::new();
    for (i, secret) in app.secrets.iter().enumerate() {
        let path = vec![key("secrets"), index(i)];
        if secret.name.trim().is_empty() || secret.name.chars().count() > 100 {
            rules.error(
                "bad-secret-name",
                &[path.clone(), vec![key("name")]].concat(),
                "a secret name has 1-100 characters",
                "invalid name",
            );
        }
        if names.insert(secret.name.as_str(), i).is_some() {
            rules
                .error(
                    "duplicate-value",
                    &[path.clone(), vec![key("name")]].concat(),
                    format!("secret `{}` is declared twice", secret.name),
                    "duplicate",
                )
                .help =
                Some("each secret needs its own name: it is the credential's displayName".into());
        }
        let mut period = |field: &str, text: &Option<String>| -> Option<Period> {
            let text = text.as_ref()?;
            match Period::parse(text) {
                Ok(p) => Some(p),
                Err(message) => {
                    rules
                        .error(
                            "bad-duration",
                            &[path.clone(), vec![key(field)]].concat(),
                            message,
                            "not a duration",
                        )
                        .help = Some("examples: 30d, 12w, 6mo, 2y, P1Y".into());
                    None
                }
            }
        };
        let lifetime = period("lifetime", &secret.lifetime);
        let rotate_before = period("rotateBefore", &secret.rotate_before);
        let lifetime_value = lifetime.unwrap_or(crate::model::DEFAULT_SECRET_LIFETIME);
        let rotate_value = rotate_before.unwrap_or(crate::model::DEFAULT_ROTATE_BEFORE);
        if lifetime_value.is_zero() {
            rules.error(
                "bad-duration",
                &[path.clone(), vec![key("lifetime")]].concat(),
                "a secret lifetime must be longer than zero",
                "zero",
            );
        } else if rotate_value.after(reference) >= lifetime_value.after(reference) {
            let field = if rotate_before.is_some() {
                "rotateBefore"
            } else {
                "lifetime"
            };
            rules.error("rotation-window", &[path.clone(), vec![key(field)]].concat(), format!("rotateBefore ({rotate_value}) must be shorter than the lifetime ({lifetime_value}), or every run rotates"), "window too long");
        }
        if lifetime_value.after(reference)
            > Period::parse("2y").ok().and_then(|p| p.after(reference))
        {
            rules.warning("long-lifetime", &[path.clone(), vec![key("lifetime")]].concat(), format!("lifetime {lifetime_value} is over two years; tenant policies commonly refuse that"), "long lifetime");
        }
        match &secret.deliver {
            Some(deliver) => check_sink(rules, &path, deliver),
            // Without a sink a secret can only keep credentials that exist: it must name them.
            None if secret.key_ids.is_empty() => {
                rules
                    .error(
                        "missing-field",
                        &path,
                        format!(
                            "secret `{}` has no `deliver`: a new value would go nowhere",
                            secret.name
                        ),
                        "`deliver` missing",
                    )
                    .help = Some(
                    "add `deliver:` with one sink (file, keyVault, github or stdout); only a secret that keeps existing credentials, listed in `keyIds`, may go without one".into(),
                );
            }
            None => {}
        }
        let mut key_ids = HashSet::new();
        for (k, key_id) in secret.key_ids.iter().enumerate() {
            let at = [path.clone(), vec![key("keyIds"), index(k)]].concat();
            match uuid::Uuid::parse_str(key_id) {
                Err(_) => {
                    rules
                        .error(
                            "bad-key-id",
                            &at,
                            format!("`{key_id}` is not a keyId (a GUID)"),
                            "not a GUID",
                        )
                        .help = Some(
                        "write the keyId of an existing password credential, as `appreg import` or Graph shows it".into(),
                    );
                }
                Ok(id) if !key_ids.insert(id) => {
                    rules.error(
                        "duplicate-value",
                        &at,
                        format!("keyId `{key_id}` is listed twice"),
                        "duplicate",
                    );
                }
                Ok(_) => {}
            }
        }
    }
    // A credential belongs to one secret: two claiming it would each plan its rotation.
    let mut claimed: std::collections::HashMap<uuid::Uuid, &str> = Default::default();
    for (i, secret) in app.secrets.iter().enumerate() {
        for (k, key_id) in secret.key_ids.iter().enumerate() {
            let Ok(id) = uuid::Uuid::parse_str(key_id) else {
                continue;
            };
            if let Some(other) = claimed.insert(id, &secret.name)
                && other != secret.name
            {
                rules.error(
                    "duplicate-value",
                    &[key("secrets"), index(i), key("keyIds"), index(k)],
                    format!("keyId `{key_id}` also belongs to secret `{other}`"),
                    "claimed twice",
                );
            }
        }
    }
    let generations: u32 = app
        .secrets
        .iter()
        .map(|s| s.keep.unwrap_or(crate::model::DEFAULT_KEEP))
        .sum();
    // Rotation needs two slots of the cap of 2 (the value in use and its replacement), and the
    // value in use is never removed first: two secrets could never rotate.
    if personal && (generations > 2 || app.secrets.len() > 1) {
        rules.error("too-many", &[key("secrets")], format!("apps that allow personal accounts hold at most 2 password credentials and rotating a secret takes both (the value in use and its replacement); these declarations keep up to {generations} in {} secrets", app.secrets.len()), "too many secrets")
            .help = Some("declare one secret, with `keep: 2` (the default) or `keep: 1`".into());
    }
}

/// Why a secret file path may not be used: a secret is written beside the manifest that declares
/// it, never anywhere a reviewer would not look (an absolute path, `..` out of the directory, a
/// URL read as a path, control characters that hide what the path is).
fn sink_path_problem(file: &str) -> Option<&'static str> {
    let path = std::path::Path::new(file);
    if file.chars().any(char::is_control) {
        Some("contains control characters")
    } else if file.contains("://") {
        Some("is a URL, not a file path")
    } else if path.is_absolute() || file.starts_with('\\') || file.get(1..2) == Some(":") {
        Some("is absolute")
    } else if path
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
        || file.split(['/', '\\']).any(|part| part == "..")
    {
        Some("climbs out of the manifest's directory with `..`")
    } else {
        None
    }
}

fn check_sink(rules: &mut Rules, path: &[Step], deliver: &wire::Deliver) {
    let base = [path.to_vec(), vec![key("deliver")]].concat();
    let chosen = [
        deliver.file.is_some(),
        deliver.key_vault.is_some(),
        deliver.github.is_some(),
        deliver.stdout.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if chosen != 1 {
        rules
            .error(
                "bad-sink",
                &base,
                "`deliver` needs exactly one of `file`, `keyVault`, `github` and `stdout`",
                "one sink expected",
            )
            .help = Some("a secret value goes to exactly one place".into());
        return;
    }
    if let Some(file) = &deliver.file {
        let p = [base.clone(), vec![key("file")]].concat();
        if file.trim().is_empty() {
            rules.error("empty-value", &p, "the file path is empty", "empty");
        } else if let Some(why) = sink_path_problem(file) {
            rules
                .error(
                    "bad-sink-path",
                    &p,
                    format!("the secret file path `{file}` {why}"),
                    "not a path inside the manifest's directory",
                )
                .help = Some(
                "write a relative path without `..`, such as `secrets/app.json`; it is resolved against the manifest's directory".into(),
            );
        }
    }
    if let Some(vault) = &deliver.key_vault {
        // A vault URL receives a Key Vault token: only vaults of a Microsoft cloud (the run's
        // cloud is checked again before any token is sent).
        let clouds = crate::credentials::keyvault::ALL_CLOUDS;
        if let Err(why) = crate::credentials::keyvault::vault_url(&vault.vault, &clouds) {
            rules
                .error(
                    "bad-url",
                    &[base.clone(), vec![key("keyVault"), key("vault")]].concat(),
                    format!("`{}` is not a Key Vault URL: {why}", vault.vault),
                    "not a Key Vault URL",
                )
                .help = Some("write the vault URI, such as https://contoso-kv.vault.azure.net (.vault.usgovcloudapi.net in US Government, .vault.azure.cn in China)".into());
        }
        let name_ok = (1..=127).contains(&vault.secret.len())
            && vault
                .secret
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !name_ok {
            rules
                .error(
                    "bad-secret-name",
                    &[base.clone(), vec![key("keyVault"), key("secret")]].concat(),
                    format!("`{}` is not a valid Key Vault secret name", vault.secret),
                    "invalid name",
                )
                .help = Some("Key Vault secret names have 1-127 letters, digits and dashes".into());
        }
    }
    if let Some(github) = &deliver.github {
        let ok = github
            .output
            .starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && github
                .output
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            rules
                .error(
                    "bad-output-name",
                    &[base.clone(), vec![key("github"), key("output")]].concat(),
                    format!("`{}` is not a valid step output name", github.output),
                    "invalid name",
                )
                .help = Some("start with a letter or `_`, then letters, digits, `-` or `_`".into());
        }
    }
    if deliver.stdout == Some(false) {
        rules
            .error(
                "bad-sink",
                &[base, vec![key("stdout")]].concat(),
                "`stdout: false` delivers the value nowhere",
                "no sink",
            )
            .help = Some("choose a sink: `file`, `keyVault`, `github` or `stdout: true`".into());
    }
}

fn check_certificates(rules: &mut Rules, app: &wire::App) {
    let mut names = HashSet::new();
    for (i, certificate) in app.certificates.iter().enumerate() {
        let path = vec![key("certificates"), index(i)];
        if !names.insert(certificate.name.as_str()) {
            rules.error(
                "duplicate-value",
                &[path.clone(), vec![key("name")]].concat(),
                format!("certificate `{}` is declared twice", certificate.name),
                "duplicate",
            );
        }
        // A certificate is read and uploaded: like a secret file it must be inside the
        // manifest's directory, or a pull request could make appreg publish any runner file.
        if let Some(why) = sink_path_problem(&certificate.file) {
            rules
                .error(
                    "bad-certificate-path",
                    &[path, vec![key("file")]].concat(),
                    format!("the certificate path `{}` {why}", certificate.file),
                    "not a path inside the manifest's directory",
                )
                .help = Some(
                "copy the public certificate next to the manifest and write a relative path without `..`, such as `certs/app.pem`".into(),
            );
            continue;
        }
        let file = crate::model::ManifestPath {
            declared: certificate.file.clone(),
            base_dir: rules.source.file.base_dir().to_path_buf(),
        };
        let read =
            crate::credentials::files::read(&file, crate::credentials::files::CERTIFICATE_MAX);
        let problem = match read {
            Err(e) => Some((format!("cannot read certificate file `{}`: it {e}", certificate.file), "check the path: it is relative to this manifest file; a regular file (no link, device or FIFO) of at most 64 KiB".to_string())),
            Ok(bytes) if contains(&bytes, b"PRIVATE KEY") => Some((
                format!("`{}` holds a private key", certificate.file),
                "give appreg the public certificate only (PEM `BEGIN CERTIFICATE` or DER); keep the key with the workload".to_string(),
            )),
            Ok(bytes) if !(contains(&bytes, b"-----BEGIN CERTIFICATE-----") || bytes.first() == Some(&0x30)) => Some((
                format!("`{}` is neither a PEM nor a DER certificate", certificate.file),
                "export the public certificate as .pem or .cer".to_string(),
            )),
            Ok(_) => None,
        };
        if let Some((message, help)) = problem {
            rules
                .error(
                    "bad-certificate",
                    &[path, vec![key("file")]].concat(),
                    message,
                    "certificate file",
                )
                .help = Some(help);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn check_federated_credentials(rules: &mut Rules, app: &wire::App) {
    let credentials = &app.federated_credentials;
    if credentials.len() > 20 {
        rules.error(
            "too-many",
            &[key("federatedCredentials")],
            format!(
                "{} federated credentials, Graph allows 20 per app",
                credentials.len()
            ),
            "too many",
        );
    }
    let mut names = HashSet::new();
    let mut pairs = HashSet::new();
    for (i, credential) in credentials.iter().enumerate() {
        let path = vec![key("federatedCredentials"), index(i)];
        let name_ok = (1..=120).contains(&credential.name.chars().count())
            && credential
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            rules
                .error(
                    "bad-name",
                    &[path.clone(), vec![key("name")]].concat(),
                    format!(
                        "`{}` is not a valid federated credential name",
                        credential.name
                    ),
                    "invalid name",
                )
                .help = Some("use 1-120 letters, digits, `-` or `_`".into());
        }
        if !names.insert(credential.name.as_str()) {
            rules.error(
                "duplicate-value",
                &[path.clone(), vec![key("name")]].concat(),
                format!(
                    "federated credential `{}` is declared twice",
                    credential.name
                ),
                "duplicate",
            );
        }
        match url::Url::parse(&credential.issuer) {
            Ok(u) if u.scheme() == "https" => {}
            _ => {
                rules
                    .error(
                        "bad-url",
                        &[path.clone(), vec![key("issuer")]].concat(),
                        format!("issuer `{}` must be an https URL", credential.issuer),
                        "invalid issuer",
                    )
                    .help =
                    Some("GitHub Actions: https://token.actions.githubusercontent.com".into());
            }
        }
        rules.max_chars(
            &[path.clone(), vec![key("issuer")]].concat(),
            "`issuer`",
            &credential.issuer,
            600,
        );
        if credential.subject.trim().is_empty() {
            rules.error(
                "empty-value",
                &[path.clone(), vec![key("subject")]].concat(),
                "`subject` must not be empty",
                "empty",
            );
        }
        rules.max_chars(
            &[path.clone(), vec![key("subject")]].concat(),
            "`subject`",
            &credential.subject,
            600,
        );
        if let Some(description) = &credential.description {
            rules.max_chars(
                &[path.clone(), vec![key("description")]].concat(),
                "`description`",
                description,
                600,
            );
        }
        if credential.audiences.len() > 1 {
            rules
                .error(
                    "too-many",
                    &[path.clone(), vec![key("audiences")]].concat(),
                    "a federated credential has exactly one audience",
                    "one audience",
                )
                .help = Some(
                "normally api://AzureADTokenExchange; omit `audiences` for that default".into(),
            );
        }
        if !pairs.insert((credential.issuer.as_str(), credential.subject.as_str())) {
            rules.error(
                "duplicate-value",
                &path,
                "another federated credential of this app has the same issuer and subject",
                "duplicate issuer and subject",
            );
        }
    }
}

/// Rules across apps: one uniqueName per app, one owner of each identifierUri, one adopter per
/// appId, one secret per sink.
pub fn check_across_apps(apps: &[AppSource], out: &mut Vec<Diagnostic>) {
    check_sinks_unique(apps, out);
    let mut first: BTreeMap<(&str, String), Location> = BTreeMap::new();
    let mut keys = HashSet::new();
    for source in apps {
        // The same key twice is reported as a duplicate app; its claims would only repeat that.
        if !keys.insert(source.key) {
            continue;
        }
        let here = |path: &[Step]| Location {
            file: source.file.clone(),
            span: source
                .node
                .at(path)
                .map_or(source.key_span.clone(), |n| n.span.clone()),
        };
        let mut claims: Vec<(&str, String, Location)> = vec![(
            "uniqueName",
            unique_name(source.key, source.app).to_lowercase(),
            Location {
                file: source.file.clone(),
                span: source
                    .node
                    .at(&[key("uniqueName")])
                    .map_or(source.key_span.clone(), |n| n.span.clone()),
            },
        )];
        for (i, uri) in source.app.identifier_uris.iter().enumerate() {
            claims.push((
                "identifierUri",
                uri.to_lowercase(),
                here(&[key("identifierUris"), index(i)]),
            ));
        }
        if let Some(adopt) = &source.app.adopt {
            claims.push((
                "adopted appId",
                adopt.app_id().to_lowercase(),
                here(&[key("adopt")]),
            ));
        }
        for (what, value, location) in claims {
            match first.get(&(what, value.clone())) {
                Some(previous) => out.push(
                    Diagnostic::error(
                        "duplicate-across-apps",
                        Some(location),
                        format!("{what} `{value}` is claimed by two apps"),
                    )
                    .with_label(format!("also claimed at {previous}"))
                    .with_help(format!("each app needs its own {what}")),
                ),
                None => {
                    first.insert((what, value), location);
                }
            }
        }
    }
}

/// Two secrets delivered to one sink overwrite each other: every apply rotates one and replaces the
/// other's value, forever, and each consumer holds the wrong secret half the time. So a sink
/// belongs to one secret across every app and file of a run, compared the way the destination
/// compares names: files by their path under the manifest's directory, without regard to case
/// (macOS and Windows runners fold it); Key Vault secrets by vault host and secret name, both
/// case-insensitive in Key Vault; GitHub step outputs by name, which expressions read in any case.
fn check_sinks_unique(apps: &[AppSource], out: &mut Vec<Diagnostic>) {
    let mut first: HashMap<(&str, String), Location> = HashMap::new();
    let mut keys = HashSet::new();
    // In file order, so the error is reported at the later of the two places.
    let mut in_order: Vec<&AppSource> = apps.iter().collect();
    in_order.sort_by_key(|s| (&s.file.path, s.key_span.start));
    for source in in_order {
        // The same key twice is reported as a duplicate app already.
        if !keys.insert(source.key) {
            continue;
        }
        for (i, secret) in source.app.secrets.iter().enumerate() {
            let Some((what, field, identity, written)) = secret
                .deliver
                .as_ref()
                .and_then(|deliver| sink_identity(source, deliver))
            else {
                continue;
            };
            let path = [key("secrets"), index(i), key("deliver"), key(field)];
            let here = Location {
                file: source.file.clone(),
                span: source
                    .node
                    .at(&path)
                    .map_or(source.key_span.clone(), |n| n.span.clone()),
            };
            match first.get(&(what, identity.clone())) {
                Some(previous) => out.push(
                    Diagnostic::error(
                        "duplicate-sink",
                        Some(here),
                        format!(
                            "two secrets deliver to the same {what} `{written}`: here and at {previous}"
                        ),
                    )
                    .with_label(format!("same {what} as {previous}"))
                    .with_help("give each secret its own sink; two secrets sharing one overwrite each other's value on every apply"),
                ),
                None => {
                    first.insert((what, identity), here);
                }
            }
        }
    }
}

/// What a sink is called in messages, the manifest field naming it, the identity it is compared
/// by, and how it is written. None for sinks that are invalid (reported elsewhere) or `stdout`.
fn sink_identity(
    source: &AppSource,
    deliver: &wire::Deliver,
) -> Option<(&'static str, &'static str, String, String)> {
    if let Some(file) = &deliver.file {
        if file.trim().is_empty() || sink_path_problem(file).is_some() {
            return None;
        }
        let base = source.file.base_dir();
        let base = std::fs::canonicalize(base).unwrap_or_else(|_| base.to_path_buf());
        // A backslash separates on Windows runners: the same file there.
        let path = lexically_normal(&base.join(file.replace('\\', "/")));
        return Some((
            "file",
            "file",
            path.to_string_lossy().to_lowercase(),
            file.clone(),
        ));
    }
    if let Some(vault) = &deliver.key_vault {
        let url = url::Url::parse(&vault.vault).ok()?;
        let host = url.host_str()?.to_lowercase();
        let port = url.port_or_known_default().unwrap_or_default();
        return Some((
            "Key Vault secret",
            "keyVault",
            format!("{host}:{port}/{}", vault.secret.to_lowercase()),
            format!("{}/{}", vault.vault.trim_end_matches('/'), vault.secret),
        ));
    }
    let github = deliver.github.as_ref()?;
    Some((
        "GitHub output",
        "github",
        github.output.to_lowercase(),
        github.output.clone(),
    ))
}

/// `path` with `.` dropped and `..` taking away the part before it, without asking the file
/// system (the file may not exist yet).
fn lexically_normal(path: &std::path::Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
