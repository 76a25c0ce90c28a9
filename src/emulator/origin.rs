//! The address a client called, for the absolute links the sandbox writes (`@odata.nextLink`,
//! `@odata.context`, the discovery documents): a client behind a proxy, or one that reached the
//! sandbox as `localhost` instead of `127.0.0.1`, must get links it can follow.
//!
//! `X-Forwarded-Proto`/`X-Forwarded-Host` win over `Host`, which wins over the listener's own
//! address. A value that is not a plain host[:port] (or http/https) is ignored: a header must never
//! smuggle a path or whitespace into a link.

use axum::http::HeaderMap;

fn first_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn is_host(text: &str) -> bool {
    text.len() <= 255
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// `scheme://host[:port]` as the client called it; `listener` (`http://127.0.0.1:PORT`) when the
/// headers do not say.
pub fn base(headers: &HeaderMap, listener: &str) -> String {
    let (listener_scheme, listener_host) = listener.split_once("://").unwrap_or(("http", listener));
    let scheme = first_value(headers, "x-forwarded-proto")
        .map(str::to_ascii_lowercase)
        .filter(|p| p == "http" || p == "https")
        .unwrap_or_else(|| listener_scheme.to_string());
    let host = first_value(headers, "x-forwarded-host")
        .filter(|h| is_host(h))
        .or_else(|| first_value(headers, "host").filter(|h| is_host(h)))
        .unwrap_or(listener_host);
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn links_follow_the_address_the_client_called() {
        let listener = "http://127.0.0.1:8080";
        // (headers, expected base, why)
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case] = &[
            (&[], "http://127.0.0.1:8080", "no header: the listener"),
            (
                &[("host", "localhost:8080")],
                "http://localhost:8080",
                "Host names the address",
            ),
            (
                &[
                    ("host", "localhost:8080"),
                    ("x-forwarded-host", "graph.test"),
                    ("x-forwarded-proto", "https"),
                ],
                "https://graph.test",
                "a proxy's headers win",
            ),
            (
                &[("x-forwarded-host", "a.test, b.test")],
                "http://a.test",
                "the first of a proxy chain",
            ),
            (
                &[
                    ("host", "evil.test/path?x"),
                    ("x-forwarded-proto", "javascript"),
                ],
                "http://127.0.0.1:8080",
                "a path or an odd scheme is ignored",
            ),
        ];
        for (pairs, expected, why) in cases {
            let mut map = HeaderMap::new();
            for (name, value) in pairs.iter() {
                map.insert(*name, HeaderValue::from_str(value).unwrap());
            }
            assert_eq!(base(&map, listener), *expected, "{why}");
        }
        assert_eq!(
            base(&headers(&[]), "https://127.0.0.1:1"),
            "https://127.0.0.1:1"
        );
    }
}
