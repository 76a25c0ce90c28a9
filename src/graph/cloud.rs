//! Which Microsoft cloud appreg talks to: the login authority, the Graph host, and the resource
//! identifiers that token scopes are derived from.
//!
//! Also the one place that decides whether a URL may carry a token: https anywhere, plain http only
//! to loopback addresses (the sandbox and test fakes). This module never performs IO.

use std::net::IpAddr;

use url::Url;

/// A national or global Microsoft cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cloud {
    Global,
    UsGov,
    UsGovDod,
    China,
}

impl Cloud {
    /// Base URL of the Entra ID login authority.
    pub fn authority_host(self) -> &'static str {
        match self {
            Cloud::Global => "https://login.microsoftonline.com/",
            Cloud::UsGov | Cloud::UsGovDod => "https://login.microsoftonline.us/",
            Cloud::China => "https://login.chinacloudapi.cn/",
        }
    }

    /// Microsoft Graph endpoint, which is also the Graph resource identifier tokens are issued for.
    pub fn graph_host(self) -> &'static str {
        match self {
            Cloud::Global => "https://graph.microsoft.com",
            Cloud::UsGov => "https://graph.microsoft.us",
            Cloud::UsGovDod => "https://dod-graph.microsoft.us",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }

    /// Azure Key Vault resource identifier (the audience of data-plane tokens).
    pub fn key_vault_resource(self) -> &'static str {
        match self {
            Cloud::Global => "https://vault.azure.net",
            Cloud::UsGov | Cloud::UsGovDod => "https://vault.usgovcloudapi.net",
            Cloud::China => "https://vault.azure.cn",
        }
    }
}

/// The resolved endpoints of one run: a cloud's defaults with `--authority-url` / `--graph-url`
/// overrides applied. Token scopes always follow the cloud (an overridden Graph URL, such as the
/// sandbox, still receives tokens for the cloud's Graph resource).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub cloud: Cloud,
    /// Login authority, ending in `/`; token endpoints are `{authority}{tenant}/oauth2/v2.0/token`.
    pub authority: Url,
    /// Graph base URL without the version segment, e.g. `https://graph.microsoft.com`.
    pub graph: Url,
}

impl Endpoints {
    pub fn for_cloud(cloud: Cloud) -> Self {
        Endpoints {
            cloud,
            authority: Url::parse(cloud.authority_host()).expect("static authority URL is valid"),
            graph: Url::parse(cloud.graph_host()).expect("static Graph URL is valid"),
        }
    }

    /// Replace the authority; refused unless https, or http to a loopback address.
    pub fn with_authority(mut self, url: Url) -> Result<Self, EndpointError> {
        let mut url = require_secure_transport(url, "authority URL")?;
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        self.authority = url;
        Ok(self)
    }

    /// Replace the Graph base URL; refused unless https, or http to a loopback address.
    pub fn with_graph(mut self, url: Url) -> Result<Self, EndpointError> {
        self.graph = require_secure_transport(url, "Graph URL")?;
        Ok(self)
    }

    /// The `.default` scope string for a token audience, as the v2 token endpoint wants it.
    pub fn scope_string(&self, scope: Scope) -> String {
        format!("{}/.default", self.resource(scope))
    }

    /// The bare resource identifier, as managed identity endpoints want it.
    pub fn resource(&self, scope: Scope) -> &'static str {
        match scope {
            Scope::Graph => self.cloud.graph_host(),
            Scope::KeyVault => self.cloud.key_vault_resource(),
        }
    }
}

/// The token audiences appreg needs; the scope strings are derived per cloud by [`Endpoints`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Graph,
    KeyVault,
}

/// A URL that may not carry credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {url} is refused: {reason}")]
pub struct EndpointError {
    pub what: String,
    pub url: String,
    pub reason: String,
}

/// Accept `url` for sending tokens or credentials: https with a host, or plain http to a loopback
/// address (127.0.0.0/8, ::1, localhost), which never leaves the machine.
pub fn require_secure_transport(url: Url, what: &str) -> Result<Url, EndpointError> {
    let refuse = |reason: &str| EndpointError {
        what: what.to_string(),
        url: url.to_string(),
        reason: reason.to_string(),
    };
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refuse("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("credentials in the URL are not supported"));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(refuse(
            "plain http is accepted only for loopback addresses (127.0.0.1, ::1, localhost); use https",
        )),
        _ => Err(refuse(
            "only https (or http to a loopback address) is supported",
        )),
    }
}

/// Whether the URL's host is a loopback address or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clouds_map_to_their_hosts() {
        let cases = [
            (
                Cloud::Global,
                "https://login.microsoftonline.com/",
                "https://graph.microsoft.com/",
            ),
            (
                Cloud::UsGov,
                "https://login.microsoftonline.us/",
                "https://graph.microsoft.us/",
            ),
            (
                Cloud::UsGovDod,
                "https://login.microsoftonline.us/",
                "https://dod-graph.microsoft.us/",
            ),
            (
                Cloud::China,
                "https://login.chinacloudapi.cn/",
                "https://microsoftgraph.chinacloudapi.cn/",
            ),
        ];
        for (cloud, authority, graph) in cases {
            let e = Endpoints::for_cloud(cloud);
            assert_eq!(e.authority.as_str(), authority, "{cloud:?}");
            assert_eq!(e.graph.as_str(), graph, "{cloud:?}");
        }
    }

    #[test]
    fn scopes_follow_the_cloud_even_with_overrides() {
        let e = Endpoints::for_cloud(Cloud::China)
            .with_graph(Url::parse("http://127.0.0.1:8080").unwrap())
            .unwrap();
        assert_eq!(
            e.scope_string(Scope::Graph),
            "https://microsoftgraph.chinacloudapi.cn/.default"
        );
        assert_eq!(
            e.scope_string(Scope::KeyVault),
            "https://vault.azure.cn/.default"
        );
        assert_eq!(
            Endpoints::for_cloud(Cloud::Global).scope_string(Scope::KeyVault),
            "https://vault.azure.net/.default"
        );
    }

    #[test]
    fn transport_rule() {
        // Each case: URL, accepted?, why.
        let cases = [
            ("https://graph.example.com", true, "https anywhere"),
            ("http://127.0.0.1:3000", true, "IPv4 loopback"),
            ("http://127.1.2.3", true, "all of 127.0.0.0/8 is loopback"),
            ("http://[::1]:8080", true, "IPv6 loopback"),
            ("http://localhost:8080", true, "localhost by name"),
            ("http://LOCALHOST", true, "host names are case-insensitive"),
            (
                "http://10.0.0.5",
                false,
                "private addresses leave the machine",
            ),
            (
                "http://graph.microsoft.com",
                false,
                "plain http to a real host",
            ),
            (
                "http://localhost.evil.com",
                false,
                "a name that merely starts with localhost",
            ),
            ("ftp://127.0.0.1", false, "other schemes"),
            (
                "https://user:pw@graph.example.com",
                false,
                "userinfo would be sent along",
            ),
        ];
        for (url, ok, why) in cases {
            let result = require_secure_transport(Url::parse(url).unwrap(), "Graph URL");
            assert_eq!(result.is_ok(), ok, "{url}: {why}");
        }
        let err = require_secure_transport(Url::parse("http://10.0.0.5").unwrap(), "Graph URL")
            .unwrap_err();
        assert!(err.to_string().contains("only for loopback"), "{err}");
    }

    #[test]
    fn authority_override_gets_a_trailing_slash() {
        let e = Endpoints::for_cloud(Cloud::Global)
            .with_authority(Url::parse("http://127.0.0.1:9/login").unwrap())
            .unwrap();
        assert_eq!(e.authority.as_str(), "http://127.0.0.1:9/login/");
    }
}
