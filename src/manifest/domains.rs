//! identifierUris against the tenant's verified domains: Graph refuses an http(s) identifierUri
//! whose host is not a verified domain of the tenant (or a subdomain of one) with
//! `HostNameNotOnVerifiedDomain`, after earlier writes of the run went through. Checking at plan
//! time reports the mistake where it is written, before anything is sent.
//! <https://learn.microsoft.com/en-us/entra/identity-platform/identifier-uri-restrictions>
//!
//! Like the rest of `manifest`, this never talks to Graph: the caller reads the domains and passes
//! them in.

use super::diagnostic::Diagnostic;
use super::source::Location;

/// Where an identifierUri is written, with its value after interpolation.
#[derive(Debug, Clone)]
pub struct IdentifierUriSite {
    pub app: String,
    pub uri: String,
    pub location: Location,
}

/// The host an identifierUri's verified-domain rule applies to: http(s) URIs only.
fn checked_host(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    matches!(url.scheme(), "http" | "https")
        .then(|| url.host_str().map(str::to_ascii_lowercase))
        .flatten()
}

/// Whether any site needs the tenant's verified domains (so a run without one asks nothing).
pub fn needs_verified_domains(sites: &[IdentifierUriSite]) -> bool {
    sites.iter().any(|s| checked_host(&s.uri).is_some())
}

/// An error for each http(s) identifierUri whose host is not a verified domain or a subdomain of
/// one.
pub fn check_identifier_uri_hosts(
    sites: &[IdentifierUriSite],
    verified: &[String],
) -> Vec<Diagnostic> {
    let verified: Vec<String> = verified
        .iter()
        .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
        .collect();
    let mut listed = verified.clone();
    listed.sort();
    sites
        .iter()
        .filter_map(|site| {
            let host = checked_host(&site.uri)?;
            let ok = verified
                .iter()
                .any(|d| host == *d || host.ends_with(&format!(".{d}")));
            (!ok).then(|| {
                Diagnostic::error(
                    "unverified-identifier-uri-domain",
                    Some(site.location.clone()),
                    format!(
                        "app `{}`: identifierUri `{}` uses the host `{host}`, which is not a verified domain of the tenant; Graph refuses it (HostNameNotOnVerifiedDomain)",
                        site.app, site.uri
                    ),
                )
                .with_label("not a verified domain")
                .with_help(format!(
                    "use a verified domain or a subdomain of one ({}), or an api:// URI",
                    listed.join(", ")
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::manifest::source::SourceFile;

    fn site(uri: &str) -> IdentifierUriSite {
        let file: Arc<SourceFile> = SourceFile::new("m.yaml", format!("x: {uri}\n"));
        IdentifierUriSite {
            app: "a".into(),
            uri: uri.into(),
            location: Location {
                file,
                span: 3..3 + uri.len(),
            },
        }
    }

    #[test]
    fn hosts_must_be_verified_domains_or_their_subdomains() {
        let verified = [
            "contoso.onmicrosoft.com".to_string(),
            "Contoso.com".to_string(),
        ];
        let cases = [
            ("https://contoso.com/api", true, "a verified domain"),
            ("https://orders.contoso.com", true, "a subdomain of one"),
            ("https://CONTOSO.com/x", true, "hosts compare without case"),
            ("api://orders", true, "api:// URIs are not host-checked"),
            ("urn:contoso:orders", true, "nor are urn: URIs"),
            ("https://fabrikam.com/api", false, "another domain"),
            (
                "https://evilcontoso.com",
                false,
                "a suffix that is not a subdomain",
            ),
        ];
        for (uri, ok, why) in cases {
            let found = check_identifier_uri_hosts(&[site(uri)], &verified);
            assert_eq!(found.is_empty(), ok, "{why}: {uri}");
        }
        assert!(!needs_verified_domains(&[site("api://x")]));
        assert!(needs_verified_domains(&[site("https://x.example")]));
    }
}
