//! Desired model -> manifest text a person would write: defaults left out, ids kept where the
//! tenant needs them, the schema modeline on top, comments for what a reader must know.
//!
//! Text from a tenant is hostile: a display name may hold quotes, line breaks, YAML markers,
//! runner commands or `${var:...}`. Every value goes through the YAML serializer (which quotes
//! what needs quoting and writes line breaks as escapes, never as block scalars whose lines could
//! start with anything), `${` is written `$${` so interpolation leaves it literal, comments are
//! reduced to one line of escaped text, and the result is parsed back and compared with what was
//! meant before anyone sees it.

use std::collections::BTreeMap;

use serde_json::Value;

use super::diagnostic::escape_hidden;
use super::lower::app_to_wire;
use super::wire;
use crate::model::{self, DesiredApp};

/// One app to write, with the comments that go above it.
pub struct EmittedApp<'a> {
    pub app: &'a DesiredApp,
    pub comments: Vec<String>,
}

/// A manifest key or file name from free text: lower-case ASCII letters, digits and `-`, at
/// most 60 characters; `fallback` when nothing of the text is left.
pub fn slug(text: &str, fallback: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 60 {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        fallback.to_string()
    } else {
        out
    }
}

/// The manifest text for `apps` of the set `set_name`, starting with the schema modeline that
/// points at `schema`. Fails only when the text would not read back as written (a serializer
/// fault; nothing is written then).
pub fn manifest(set_name: &str, schema: &str, apps: &[EmittedApp]) -> Result<String, String> {
    let file = wire::ManifestFile {
        version: 1,
        name: Some(set_name.to_string()),
        tenant: None,
        prune: None,
        apps: apps
            .iter()
            .map(|a| (a.app.key.clone(), compact(app_to_wire(a.app))))
            .collect::<BTreeMap<_, _>>(),
        policy: None,
    };
    let file = literal(&file)?;
    let options = serde_saphyr::ser_options! {
        prefer_block_scalars: false,
    };
    let body = serde_saphyr::to_string_with_options(&file, options)
        .map_err(|e| format!("writing YAML: {e}"))?;
    let back: wire::ManifestFile = serde_saphyr::from_str(&body)
        .map_err(|e| format!("the written YAML does not read back: {e}"))?;
    if back != file {
        return Err("the written YAML reads back as something else".into());
    }
    let mut text = format!("# yaml-language-server: $schema={}\n", comment_text(schema));
    text.push_str("#\n# Written by `appreg import`. Review it, then `appreg plan`: the first plan shows only the\n# adoption (uniqueName and ownership tags).\n");
    for app in apps {
        if app.comments.is_empty() {
            continue;
        }
        text.push_str(&format!("#\n# {}:\n", app.app.key));
        for comment in &app.comments {
            text.push_str(&format!("#   - {}\n", comment_text(comment)));
        }
    }
    text.push_str(&body);
    Ok(text)
}

/// Text safe inside a `#` comment: one line, hidden characters spelled out.
fn comment_text(text: &str) -> String {
    escape_hidden(&text.replace(['\n', '\r'], " ")).into_owned()
}

/// `file` with `${` written `$${` in every value (keys are never interpolated).
fn literal(file: &wire::ManifestFile) -> Result<wire::ManifestFile, String> {
    fn walk(value: &mut Value) {
        match value {
            Value::String(s) if s.contains("${") => *s = s.replace("${", "$${"),
            Value::Array(items) => items.iter_mut().for_each(walk),
            Value::Object(map) => map.values_mut().for_each(walk),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(file).map_err(|e| e.to_string())?;
    walk(&mut value);
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// Leaves out what the manifest's defaults say anyway, so the file stays short.
fn compact(mut app: wire::App) -> wire::App {
    fn none_if<T: PartialEq>(value: &mut Option<T>, default: T) {
        if value.as_ref() == Some(&default) {
            *value = None;
        }
    }
    none_if(
        &mut app.sign_in_audience,
        wire::SignInAudience::AzureADMyOrg,
    );
    if let Some(web) = &mut app.web {
        none_if(&mut web.implicit_grant, wire::ImplicitGrant::default());
    }
    none_if(&mut app.web, wire::Web::default());
    none_if(&mut app.spa, wire::RedirectPlatform::default());
    none_if(&mut app.public_client, wire::RedirectPlatform::default());
    if let Some(api) = &mut app.api {
        for scope in &mut api.scopes {
            none_if(&mut scope.consent_type, wire::ScopeConsentType::User);
            none_if(&mut scope.is_enabled, true);
        }
    }
    none_if(&mut app.api, wire::Api::default());
    for role in &mut app.app_roles {
        none_if(&mut role.is_enabled, true);
    }
    if let Some(claims) = &mut app.optional_claims {
        for claim in claims
            .id_token
            .iter_mut()
            .chain(&mut claims.access_token)
            .chain(&mut claims.saml2_token)
        {
            none_if(&mut claim.essential, false);
        }
    }
    none_if(&mut app.optional_claims, wire::OptionalClaims::default());
    none_if(&mut app.info, wire::Info::default());
    none_if(&mut app.admin_consent, wire::AdminConsent::All(false));
    if let Some(wire::ServicePrincipalDecl::Settings(sp)) = &mut app.service_principal {
        none_if(&mut sp.account_enabled, true);
        none_if(&mut sp.assignment_required, false);
        none_if(&mut sp.visible_to_users, true);
    }
    none_if(
        &mut app.service_principal,
        wire::ServicePrincipalDecl::Settings(wire::ServicePrincipal::default()),
    );
    none_if(
        &mut app.service_principal,
        wire::ServicePrincipalDecl::Present(true),
    );
    for secret in &mut app.secrets {
        none_if(
            &mut secret.lifetime,
            model::DEFAULT_SECRET_LIFETIME.to_string(),
        );
        none_if(
            &mut secret.rotate_before,
            model::DEFAULT_ROTATE_BEFORE.to_string(),
        );
        none_if(&mut secret.keep, model::DEFAULT_KEEP);
    }
    for credential in &mut app.federated_credentials {
        if credential.audiences == [model::DEFAULT_FEDERATED_AUDIENCE] {
            credential.audiences.clear();
        }
    }
    if let Some(lifecycle) = &mut app.lifecycle {
        none_if(&mut lifecycle.prevent_destroy, false);
    }
    none_if(&mut app.lifecycle, wire::Lifecycle::default());
    app
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_keys() {
        for (text, want) in [
            ("CRM Calendar Sync", "crm-calendar-sync"),
            ("  Odoo -- mail  ", "odoo-mail"),
            ("東京", "app"),
            ("a\"b'c\nd: e", "a-b-c-d-e"),
        ] {
            assert_eq!(slug(text, "app"), want, "{text:?}");
        }
    }
}
