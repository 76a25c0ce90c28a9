//! Certificate credential (`AZURE_CLIENT_CERTIFICATE_PATH`): the app proves its identity with a
//! client assertion, an RS256 JWT signed with the certificate's private key whose header names the
//! certificate by its SHA-256 thumbprint (`x5t#S256`).
//!
//! The PEM file must hold the certificate (first, followed by any chain) and its unencrypted RSA
//! private key (PKCS#8 or PKCS#1). Key material and assertions never appear in messages.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeyPair;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::oauth::{ClientAuth, TokenEndpoint};
use super::{AccessToken, AuthError, AuthMethod, BoxFuture, Scope, TokenSource};
use crate::graph::cloud::Endpoints;
use crate::graph::secret::Secret;

/// How long a client assertion is valid. Entra accepts up to ten minutes of skew either way.
const ASSERTION_LIFETIME_SECS: u64 = 600;

/// A certificate with its RSA private key, able to sign client assertions.
pub struct SigningCertificate {
    key: KeyPair,
    chain: Vec<CertificateDer<'static>>,
    x5t_s256: String,
}

impl std::fmt::Debug for SigningCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningCertificate")
            .field("x5t#S256", &self.x5t_s256)
            .finish_non_exhaustive()
    }
}

impl SigningCertificate {
    /// Parse a PEM document holding the certificate (the first one is the signing certificate)
    /// and its private key. Errors describe what is missing, never the content.
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        let chain = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| "the PEM data is malformed".to_string())?;
        let leaf = chain.first().ok_or(
            "no CERTIFICATE block found (the file must hold the certificate and its private key)",
        )?;
        let key_der = PrivateKeyDer::from_pem_slice(pem).map_err(|_| {
            "no unencrypted private key found (expected a PRIVATE KEY or RSA PRIVATE KEY block; \
             encrypted keys and PKCS#12 files are not supported)"
                .to_string()
        })?;
        let key = match &key_der {
            PrivateKeyDer::Pkcs8(der) => KeyPair::from_pkcs8(der.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(der) => KeyPair::from_der(der.secret_pkcs1_der()),
            _ => return Err("only RSA private keys are supported".to_string()),
        }
        .map_err(|_| "the private key is not a usable RSA key (2048 to 8192 bits)".to_string())?;
        let x5t_s256 = URL_SAFE_NO_PAD.encode(Sha256::digest(leaf.as_ref()));
        Ok(SigningCertificate {
            key,
            chain,
            x5t_s256,
        })
    }

    /// The certificate's SHA-256 thumbprint, base64url without padding (the `x5t#S256` header).
    pub fn x5t_s256(&self) -> &str {
        &self.x5t_s256
    }

    /// A signed client assertion for `client_id` addressed to `audience` (the token endpoint).
    /// With `include_chain`, the `x5c` header carries the certificates (subject name/issuer auth).
    pub fn assertion(
        &self,
        client_id: &str,
        audience: &str,
        include_chain: bool,
    ) -> Result<Secret, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| "the system clock is before 1970".to_string())?
            .as_secs();
        let mut header = json!({"alg": "RS256", "typ": "JWT", "x5t#S256": self.x5t_s256});
        if include_chain {
            header["x5c"] = self
                .chain
                .iter()
                .map(|c| STANDARD.encode(c.as_ref()))
                .collect();
        }
        let claims = json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now,
            "nbf": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "signing the client assertion failed".to_string())?;
        Ok(Secret::new(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        )))
    }
}

/// An app registration's client id and a certificate registered on it.
pub struct ClientCertificateCredential {
    endpoint: TokenEndpoint,
    certificate: SigningCertificate,
    send_chain: bool,
}

impl ClientCertificateCredential {
    pub fn new(
        endpoints: &Endpoints,
        tenant: &str,
        client_id: &str,
        certificate: SigningCertificate,
        send_chain: bool,
        http: reqwest::Client,
    ) -> Result<Self, AuthError> {
        Ok(ClientCertificateCredential {
            endpoint: TokenEndpoint::new(
                AuthMethod::Certificate,
                endpoints,
                tenant,
                client_id,
                http,
            )?,
            certificate,
            send_chain,
        })
    }

    /// Read the PEM file at `path` (certificate and private key).
    pub fn load(path: &Path) -> Result<SigningCertificate, AuthError> {
        let pem = std::fs::read(path).map_err(|e| {
            AuthError::failed(
                AuthMethod::Certificate,
                format!(
                    "cannot read {} (AZURE_CLIENT_CERTIFICATE_PATH): {e}",
                    path.display()
                ),
            )
        })?;
        SigningCertificate::from_pem(&pem).map_err(|reason| {
            AuthError::failed(
                AuthMethod::Certificate,
                format!("{}: {reason}", path.display()),
            )
        })
    }
}

impl TokenSource for ClientCertificateCredential {
    fn token<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, Result<AccessToken, AuthError>> {
        Box::pin(async move {
            let assertion = self
                .certificate
                .assertion(
                    &self.endpoint.client_id,
                    self.endpoint.url.as_str(),
                    self.send_chain,
                )
                .map_err(|reason| AuthError::failed(AuthMethod::Certificate, reason))?;
            self.endpoint
                .client_credentials(scope, ClientAuth::Assertion(&assertion))
                .await
        })
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    use super::*;

    const PKCS8: &[u8] = include_bytes!("../../../tests/fixtures/graph/client-cert-pkcs8.pem");
    const PKCS1: &[u8] = include_bytes!("../../../tests/fixtures/graph/client-cert-pkcs1.pem");
    const CERT_DER: &[u8] = include_bytes!("../../../tests/fixtures/graph/client-cert.der");
    const PUBLIC_KEY: &[u8] =
        include_bytes!("../../../tests/fixtures/graph/client-cert-public-key.der");

    fn part(jwt: &str, n: usize) -> serde_json::Value {
        let segment = jwt.split('.').nth(n).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
    }

    #[test]
    fn both_key_formats_load_with_the_sha256_thumbprint() {
        let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(CERT_DER));
        for pem in [PKCS8, PKCS1] {
            let cert = SigningCertificate::from_pem(pem).unwrap();
            assert_eq!(cert.x5t_s256(), expected);
        }
    }

    #[test]
    fn assertion_is_a_verifiable_rs256_jwt() {
        let cert = SigningCertificate::from_pem(PKCS8).unwrap();
        let aud = "https://login.example/t/oauth2/v2.0/token";
        let jwt = cert.assertion("client-1", aud, false).unwrap();
        let jwt = jwt.expose();
        let header = part(jwt, 0);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["x5t#S256"], cert.x5t_s256());
        assert!(header.get("x5c").is_none());
        let claims = part(jwt, 1);
        assert_eq!(claims["aud"], aud);
        assert_eq!(claims["iss"], "client-1");
        assert_eq!(claims["sub"], "client-1");
        assert!(claims["exp"].as_u64().unwrap() > claims["nbf"].as_u64().unwrap());
        let (signed, signature) = jwt.rsplit_once('.').unwrap();
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, PUBLIC_KEY)
            .verify(
                signed.as_bytes(),
                &URL_SAFE_NO_PAD.decode(signature).unwrap(),
            )
            .expect("signature verifies with the certificate's public key");
        let with_chain = cert.assertion("client-1", aud, true).unwrap();
        assert_eq!(
            part(with_chain.expose(), 0)["x5c"][0],
            STANDARD.encode(CERT_DER)
        );
    }

    #[test]
    fn incomplete_files_say_what_is_missing() {
        let text = std::str::from_utf8(PKCS8).unwrap();
        let key_start = text.find("-----BEGIN PRIVATE KEY").unwrap();
        let cert_only = &text[..key_start];
        let key_only = &text[key_start..];
        let e = SigningCertificate::from_pem(cert_only.as_bytes()).unwrap_err();
        assert!(e.contains("private key"), "{e}");
        let e = SigningCertificate::from_pem(key_only.as_bytes()).unwrap_err();
        assert!(e.contains("CERTIFICATE"), "{e}");
        assert!(!e.contains("MII"), "no key material in messages: {e}");
    }
}
