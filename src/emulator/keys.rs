//! The sandbox's token-signing key: an RSA key whose public half is published as a JSON Web Key
//! Set, so that access tokens are RS256 JWTs any client or API can verify the way it verifies
//! Entra's (fetch the keys, find the `kid`, check the signature).
//!
//! The private key lives in the tenant's state file (which is mode 0600) and nowhere else; this
//! module must never put it in a token, a log line or an answer.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// Signs and verifies the sandbox's access tokens.
pub struct Signer {
    key: KeyPair,
    public: PublicKeyComponents<Vec<u8>>,
    kid: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("kid", &self.kid).finish()
    }
}

/// Why a token's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadSignature;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The key (PKCS#8) of tenants seeded by this process. RSA generation takes a noticeable part of
/// a second in a debug build and test runs seed hundreds of tenants, so one process makes one key;
/// a token still names its tenant (`tid`), which every check compares.
pub fn seed_key() -> Option<Vec<u8>> {
    static KEY: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    KEY.get_or_init(|| Signer::generate().map(|(_, pkcs8)| pkcs8))
        .clone()
}

impl Signer {
    /// A new 2048-bit key (what Entra signs with); answers the signer and its PKCS#8 form to keep.
    pub fn generate() -> Option<(Signer, Vec<u8>)> {
        let key = KeyPair::generate(KeySize::Rsa2048).ok()?;
        let pkcs8 = key.as_der().ok()?.as_ref().to_vec();
        Some((Signer::from_key(key), pkcs8))
    }

    /// A signer from a key kept in PKCS#8; `None` when the bytes are not an RSA key.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Option<Signer> {
        KeyPair::from_pkcs8(pkcs8).ok().map(Signer::from_key)
    }

    fn from_key(key: KeyPair) -> Signer {
        let public = PublicKeyComponents::<Vec<u8>>::from(key.public_key());
        // RFC 7638 thumbprint: stable for the key, and what a verifier looks up.
        let canonical = format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            b64(&public.e),
            b64(&public.n)
        );
        let kid = b64(&Sha256::digest(canonical.as_bytes()));
        Signer { key, public, kid }
    }

    /// The public key as a JWK, shaped like the entries of Entra's `discovery/v2.0/keys`.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": b64(&self.public.n),
            "e": b64(&self.public.e),
        })
    }

    /// A compact RS256 JWS of `claims`, its header naming this key.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"typ": "JWT", "alg": "RS256", "kid": self.kid});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut signature = vec![0u8; self.key.public_modulus_len()];
        // Signing with a valid key into a buffer of the modulus length cannot fail.
        let rng = aws_lc_rs::rand::SystemRandom::new();
        if self
            .key
            .sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut signature)
            .is_err()
        {
            signature.clear();
        }
        format!("{input}.{}", b64(&signature))
    }

    /// Checks a compact JWS made by [`Signer::sign`]: RS256, this key's `kid`, a valid signature.
    /// Answers the header and payload segments (still encoded).
    pub fn verify<'t>(&self, token: &'t str) -> Result<(&'t str, &'t str), BadSignature> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(BadSignature);
        };
        let header_json: Value = URL_SAFE_NO_PAD
            .decode(header)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(BadSignature)?;
        if header_json.get("alg").and_then(Value::as_str) != Some("RS256")
            || header_json.get("kid").and_then(Value::as_str) != Some(self.kid.as_str())
        {
            return Err(BadSignature);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| BadSignature)?;
        self.public
            .verify(
                &RSA_PKCS1_2048_8192_SHA256,
                format!("{header}.{payload}").as_bytes(),
                &signature,
            )
            .map_err(|_| BadSignature)?;
        Ok((header, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_tokens_verify_and_tampered_ones_do_not() {
        let (signer, pkcs8) = Signer::generate().unwrap();
        let token = signer.sign(&json!({"aud": "x"}));
        assert!(signer.verify(&token).is_ok());
        let again = Signer::from_pkcs8(&pkcs8).unwrap();
        assert_eq!(
            again.jwk(),
            signer.jwk(),
            "the key and its kid survive a reload"
        );
        assert!(again.verify(&token).is_ok());
        let mut parts: Vec<&str> = token.split('.').collect();
        let other = b64(br#"{"aud":"y"}"#);
        parts[1] = &other;
        assert_eq!(signer.verify(&parts.join(".")), Err(BadSignature));
        let (stranger, _) = Signer::generate().unwrap();
        assert_eq!(stranger.verify(&token), Err(BadSignature));
    }

    #[test]
    fn an_hmac_key_from_an_older_state_is_not_an_rsa_key() {
        assert!(Signer::from_pkcs8(&[7u8; 32]).is_none());
    }
}
