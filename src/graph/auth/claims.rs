//! Who a token was issued to, read from the token itself.
//!
//! Why it exists: the engine must know the appId of the identity appreg runs as, so it never
//! manages that app; when the credential configuration names no client id (managed identity
//! without AZURE_CLIENT_ID, Azure CLI, device code), the access token's `appid` (v1) or `azp` (v2)
//! claim says it. The payload is decoded without checking the signature: the token came from our
//! own credential, and the answer only ever adds protection.
//!
//! What it must never do: log, return or put into an error any part of the token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use uuid::Uuid;

use super::AccessToken;

/// The appId a JWT access token was issued to; None when the token is not a JWT or names none.
pub fn token_app_id(token: &AccessToken) -> Option<Uuid> {
    let payload = token.secret.expose().split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    ["appid", "azp"]
        .iter()
        .find_map(|claim| claims.get(*claim)?.as_str())
        .and_then(|id| Uuid::parse_str(id).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Secret;

    fn token(payload: &str) -> AccessToken {
        let encoded = URL_SAFE_NO_PAD.encode(payload);
        AccessToken::new(
            Secret::new(format!("eyJhbGciOiJub25lIn0.{encoded}.sig")),
            None,
        )
    }

    #[test]
    fn the_app_id_comes_from_appid_or_azp() {
        let id = "6f2e3c1a-0000-4000-8000-00000000abcd";
        let cases = [
            (format!(r#"{{"appid":"{id}"}}"#), Some(id), "v1 token"),
            (format!(r#"{{"azp":"{id}"}}"#), Some(id), "v2 token"),
            (r#"{"appid":"not a guid"}"#.to_string(), None, "junk claim"),
            (r#"{"sub":"x"}"#.to_string(), None, "no client claim"),
        ];
        for (payload, expected, why) in cases {
            let found = token_app_id(&token(&payload)).map(|u| u.to_string());
            assert_eq!(found.as_deref(), expected, "{why}");
        }
        let opaque = AccessToken::new(Secret::new("opaque-token"), None);
        assert_eq!(token_app_id(&opaque), None, "not a JWT");
    }
}
