//! OData literals and URL encoding for Graph paths and queries.
//!
//! Every name that reaches a URL (a uniqueName in an alternate key, a display name in a `$filter`)
//! goes through these helpers, so a quote or a slash in a value can neither break the request nor
//! change which object it addresses. This module never builds whole requests.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters left as they are in a path segment: RFC 3986 unreserved characters plus the single
/// quote, which OData uses to delimit string literals (`/applications(uniqueName='x')`). Everything
/// else, `/ ? # % ( ) ,` and spaces included, is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'\'');

/// Characters left as they are in a query name or value. Besides the unreserved characters, the
/// punctuation OData expressions are made of stays readable (`$filter=appId eq 'x'` becomes
/// `$filter=appId%20eq%20'x'`); `& = + # %` and spaces are always encoded.
const QUERY: &AsciiSet = &SEGMENT
    .remove(b'$')
    .remove(b'(')
    .remove(b')')
    .remove(b',')
    .remove(b'/')
    .remove(b':')
    .remove(b'@');

/// An OData string literal: the value in single quotes, each single quote doubled.
/// For `$filter` values; the query encoder percent-encodes the result when the URL is built.
///
/// ```
/// assert_eq!(appreg::graph::odata::quote("O'Brien"), "'O''Brien'");
/// ```
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A quoted OData string literal ready to sit inside a path, as in an alternate key:
/// `format!("/applications(uniqueName={})", key("a b/c"))` gives
/// `/applications(uniqueName='a%20b%2Fc')`.
pub fn key(value: &str) -> String {
    segment(&quote(value))
}

/// One path segment (an object id, a federated credential name), percent-encoded so that it stays
/// one segment.
pub fn segment(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// `name=value&...` with both sides percent-encoded (spaces as `%20`, never `+`).
pub fn encode_query(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, QUERY),
                utf8_percent_encode(v, QUERY)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_doubles_single_quotes() {
        // Each case: input, expected literal, why it matters.
        let cases = [
            (
                "O'Brien",
                "'O''Brien'",
                "an apostrophe in a name must not end the literal",
            ),
            ("", "''", "the empty string is a valid literal"),
            ("''", "''''''", "every quote is doubled, not just the first"),
            ("plain", "'plain'", "ordinary names are only wrapped"),
        ];
        for (input, expected, why) in cases {
            assert_eq!(quote(input), expected, "{why}");
        }
    }

    #[test]
    fn key_keeps_one_segment() {
        let cases = [
            ("crm-sync", "'crm-sync'", "common uniqueNames stay readable"),
            (
                "a/b",
                "'a%2Fb'",
                "a slash must not start a new path segment",
            ),
            (
                "a?b#c",
                "'a%3Fb%23c'",
                "query and fragment markers stay inside the key",
            ),
            ("it's", "'it''s'", "quotes are doubled, not encoded"),
            (
                "50%",
                "'50%25'",
                "percent signs are encoded so they are not read as escapes",
            ),
            (
                "Zoë (test)",
                "'Zo%C3%AB%20%28test%29'",
                "non-ASCII and parentheses are encoded",
            ),
        ];
        for (input, expected, why) in cases {
            assert_eq!(key(input), expected, "{why}");
        }
    }

    #[test]
    fn query_encoding_uses_percent_twenty_and_escapes_separators() {
        let q = encode_query(&[
            (
                "$filter".into(),
                format!("displayName eq {}", quote("A&B=C+D")),
            ),
            ("$top".into(), "999".into()),
        ]);
        assert_eq!(q, "$filter=displayName%20eq%20'A%26B%3DC%2BD'&$top=999");
    }
}
