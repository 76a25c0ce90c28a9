//! https for the sandbox: a certificate authority made once beside the state file, and a fresh
//! server certificate for `127.0.0.1`, `::1` and `localhost` signed by it at every start.
//!
//! Clients that insist on https (MSAL, azure-identity, the Azure CLI) then need nothing but the
//! CA file in `REQUESTS_CA_BUNDLE`/`SSL_CERT_FILE`. The CA key never leaves its file (mode 0600)
//! and is only ever used to sign loopback certificates; this module must never sign a certificate
//! for any other name.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, ServerConfig};

/// The names the server certificate is valid for: loopback only.
const LOOPBACK_NAMES: [&str; 3] = ["127.0.0.1", "::1", "localhost"];
const CA_NAME: &str = "appreg sandbox CA";
/// How long the CA is valid; it is made once per state file.
const CA_DAYS: i64 = 3650;
/// How long a server certificate is valid; a new one is made at every start.
const LEAF_DAYS: i64 = 90;

/// Why https could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("could not read or write the sandbox CA {}: {source}", path.display())]
    File { path: PathBuf, source: io::Error },
    #[error("could not make the sandbox's certificates: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("the sandbox CA key {} does not parse: {source}", path.display())]
    BadKey { path: PathBuf, source: rcgen::Error },
    #[error("could not configure TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The sandbox CA: its certificate (PEM) and where it was written, if anywhere.
pub struct Authority {
    pub cert_pem: String,
    pub cert_path: Option<PathBuf>,
    key: KeyPair,
}

/// Where the CA of a state file lives: `sandbox.json` -> `sandbox-ca.pem` and `sandbox-ca.key`.
pub fn ca_paths(state_file: &Path) -> (PathBuf, PathBuf) {
    let stem = state_file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("sandbox");
    let dir = state_file.parent().unwrap_or(Path::new(""));
    (
        dir.join(format!("{stem}-ca.pem")),
        dir.join(format!("{stem}-ca.key")),
    )
}

fn ca_params() -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, CA_NAME);
    name.push(DnType::OrganizationName, "appreg");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(CA_DAYS);
    Ok(params)
}

impl Authority {
    /// A CA that lives in memory only (a sandbox without a state file).
    pub fn ephemeral() -> Result<Authority, TlsError> {
        let key = KeyPair::generate()?;
        let cert_pem = ca_params()?.self_signed(&key)?.pem();
        Ok(Authority {
            cert_pem,
            cert_path: None,
            key,
        })
    }

    /// Loads the CA beside `state_file`, making and writing it when either file is missing.
    pub fn beside(state_file: &Path) -> Result<Authority, TlsError> {
        let (cert_path, key_path) = ca_paths(state_file);
        let file_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| TlsError::File { path, source }
        };
        if cert_path.exists() && key_path.exists() {
            let cert_pem = fs::read_to_string(&cert_path).map_err(file_error(&cert_path))?;
            let key_pem = fs::read_to_string(&key_path).map_err(file_error(&key_path))?;
            let key = KeyPair::from_pem(&key_pem).map_err(|source| TlsError::BadKey {
                path: key_path.clone(),
                source,
            })?;
            return Ok(Authority {
                cert_pem,
                cert_path: Some(cert_path),
                key,
            });
        }
        let authority = Authority::ephemeral()?;
        write_private(&key_path, authority.key.serialize_pem().as_bytes())
            .map_err(file_error(&key_path))?;
        write_private(&cert_path, authority.cert_pem.as_bytes()).map_err(file_error(&cert_path))?;
        Ok(Authority {
            cert_path: Some(cert_path),
            ..authority
        })
    }

    /// A server certificate for the loopback names, signed by this CA, as a rustls acceptor.
    pub fn acceptor(&self) -> Result<TlsAcceptor, TlsError> {
        // The issuer is rebuilt from the same name and key: the leaf's issuer and authority key
        // identifier then match the CA certificate on disk without parsing it back.
        let issuer = Issuer::new(ca_params()?, &self.key);
        let leaf_key = KeyPair::generate()?;
        let mut params = CertificateParams::new(LOOPBACK_NAMES.map(str::to_string).to_vec())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "appreg sandbox");
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::days(LEAF_DAYS);
        let leaf = params.signed_by(&leaf_key, &issuer)?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let chain = vec![
            leaf.der().clone(),
            CertificateDer::from_pem_slice(self.cert_pem.as_bytes())
                .map_err(|e| rustls::Error::General(e.to_string()))?,
        ];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    super::persist::write_atomic(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_sits_beside_its_state_file() {
        let (cert, key) = ca_paths(Path::new(".appreg/sandbox.json"));
        assert_eq!(cert, Path::new(".appreg/sandbox-ca.pem"));
        assert_eq!(key, Path::new(".appreg/sandbox-ca.key"));
    }

    #[test]
    fn a_ca_made_once_is_loaded_again_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("tenant.json");
        let first = Authority::beside(&state).unwrap();
        let again = Authority::beside(&state).unwrap();
        assert_eq!(first.cert_pem, again.cert_pem);
        assert!(again.acceptor().is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let (_, key) = ca_paths(&state);
            let mode = fs::metadata(key).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the CA key is private to its owner");
        }
    }
}
