//! Public certificate files (PEM or DER) as Graph keyCredentials. Only the certificate is read;
//! a file holding a private key is refused by validation before it gets here. Files are opened
//! through [`super::files`]: inside the manifest's directory, no links, at most
//! [`super::files::CERTIFICATE_MAX`] bytes.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// What appreg needs of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFile {
    pub der: Vec<u8>,
    /// SHA-1 of the DER, upper-case hex: the thumbprint the portal shows.
    pub thumbprint: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub subject: String,
}

impl CertificateFile {
    pub fn read(path: &crate::model::ManifestPath) -> Result<CertificateFile, String> {
        let shown = path.resolved();
        let bytes = super::files::read(path, super::files::CERTIFICATE_MAX)
            .map_err(|e| format!("cannot read `{}`: it {e}", shown.display()))?;
        CertificateFile::parse(&bytes).map_err(|e| format!("`{}`: {e}", shown.display()))
    }

    /// Parses the first certificate of a PEM file, or a DER certificate.
    pub fn parse(bytes: &[u8]) -> Result<CertificateFile, String> {
        let der = if bytes.starts_with(b"-----") || bytes.windows(11).any(|w| w == b"-----BEGIN ") {
            let (_, pem) = x509_parser::pem::parse_x509_pem(bytes)
                .map_err(|e| format!("not a PEM certificate: {e}"))?;
            if pem.label != "CERTIFICATE" {
                return Err(format!("PEM block `{}` is not a certificate", pem.label));
            }
            pem.contents
        } else {
            bytes.to_vec()
        };
        let (_, certificate) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let validity = certificate.validity();
        let time = |t: x509_parser::time::ASN1Time| {
            DateTime::<Utc>::from_timestamp(t.timestamp(), 0)
                .ok_or_else(|| "validity out of range".to_string())
        };
        let thumbprint = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &der)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        Ok(CertificateFile {
            not_before: time(validity.not_before)?,
            not_after: time(validity.not_after)?,
            subject: certificate.subject().to_string(),
            thumbprint,
            der,
        })
    }

    /// The keyCredential Graph stores for it under `name`: the thumbprint as customKeyIdentifier,
    /// validity from the certificate.
    pub fn key_credential(&self, name: &str) -> Value {
        json!({
            "type": "AsymmetricX509Cert",
            "usage": "Verify",
            "key": STANDARD.encode(&self.der),
            "displayName": name,
            "customKeyIdentifier": STANDARD.encode(hex_bytes(&self.thumbprint)),
            "startDateTime": self.not_before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "endDateTime": self.not_after.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
    }
}

/// The thumbprint a live keyCredential carries, as upper-case hex (customKeyIdentifier is base64).
pub fn live_thumbprint(credential: &Value) -> Option<String> {
    let custom = credential.get("customKeyIdentifier")?.as_str()?;
    let bytes = STANDARD.decode(custom).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02X}")).collect())
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> crate::model::ManifestPath {
        crate::model::ManifestPath {
            declared: "certs/orders-api.pem".into(),
            base_dir: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("examples/multi-file"),
        }
    }

    #[test]
    fn pem_and_der_give_the_same_certificate_and_thumbprint() {
        let pem = CertificateFile::read(&example()).unwrap();
        let der = CertificateFile::parse(&pem.der).unwrap();
        assert_eq!(pem, der);
        assert_eq!(pem.thumbprint.len(), 40);
        assert!(pem.not_before < pem.not_after);
        let credential = pem.key_credential("orders");
        assert_eq!(live_thumbprint(&credential), Some(pem.thumbprint.clone()));
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert!(CertificateFile::parse(b"hello").is_err());
        assert!(
            CertificateFile::parse(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
                .is_err()
        );
    }
}
