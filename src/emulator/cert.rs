//! Just enough X.509 to act on a keyCredential: validity, subject CN, RSA public key, thumbprints,
//! and RS256 signature checks for client-assertion JWTs.
//!
//! A small DER walker instead of a full X.509 library: the emulator never validates chains, it only
//! reads the fields Graph derives from an uploaded certificate.

use aws_lc_rs::{digest, signature};
use chrono::{DateTime, NaiveDateTime, Utc};
use sha2::{Digest, Sha256};

/// The parts of a certificate the emulator uses.
#[derive(Debug, Clone)]
pub struct Certificate {
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub subject_cn: Option<String>,
    /// PKCS#1 RSAPublicKey DER; `None` for non-RSA keys.
    pub rsa_public_key: Option<Vec<u8>>,
    pub sha1: Vec<u8>,
    pub sha256: Vec<u8>,
}

const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// Splits one DER TLV off `input`: `(tag, content, rest)`.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

fn time(tag: u8, content: &[u8]) -> Option<DateTime<Utc>> {
    let text = std::str::from_utf8(content).ok()?.trim_end_matches('Z');
    let full = match tag {
        0x17 => {
            let year: u32 = text.get(..2)?.parse().ok()?;
            format!("{}{text}", if year < 50 { "20" } else { "19" })
        }
        0x18 => text.to_string(),
        _ => return None,
    };
    NaiveDateTime::parse_from_str(&full, "%Y%m%d%H%M%S")
        .ok()
        .map(|t| t.and_utc())
}

fn common_name(mut name: &[u8]) -> Option<String> {
    while let Some((_, set, rest)) = tlv(name) {
        name = rest;
        let (_, attribute, _) = tlv(set)?;
        let (_, oid, value) = tlv(attribute)?;
        if oid == COMMON_NAME {
            let (_, text, _) = tlv(value)?;
            return String::from_utf8(text.to_vec()).ok();
        }
    }
    None
}

/// Parses a DER certificate; `None` when it is not one.
pub fn parse(der: &[u8]) -> Option<Certificate> {
    let (0x30, certificate, _) = tlv(der)? else {
        return None;
    };
    let (0x30, tbs, _) = tlv(certificate)? else {
        return None;
    };
    let mut rest = tbs;
    let (mut tag, mut content, mut next) = tlv(rest)?;
    if tag == 0xa0 {
        rest = next;
        (tag, content, next) = tlv(rest)?;
    }
    let _serial = (tag == 0x02).then_some(content)?;
    let (_, _signature_algorithm, next) = tlv(next)?;
    let (_, _issuer, next) = tlv(next)?;
    let (0x30, validity, next) = tlv(next)? else {
        return None;
    };
    let (0x30, subject, next) = tlv(next)? else {
        return None;
    };
    let (0x30, spki, _) = tlv(next)? else {
        return None;
    };
    let (t1, not_before, after) = tlv(validity)?;
    let (t2, not_after, _) = tlv(after)?;
    let (0x30, algorithm, key_bits) = tlv(spki)? else {
        return None;
    };
    let (_, oid, _) = tlv(algorithm)?;
    let (0x03, bits, _) = tlv(key_bits)? else {
        return None;
    };
    let rsa_public_key =
        (oid == RSA_ENCRYPTION).then(|| bits.get(1..).unwrap_or_default().to_vec());
    Some(Certificate {
        not_before: time(t1, not_before)?,
        not_after: time(t2, not_after)?,
        subject_cn: common_name(subject),
        rsa_public_key,
        sha1: digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der)
            .as_ref()
            .to_vec(),
        sha256: Sha256::digest(der).to_vec(),
    })
}

/// Verifies an RS256 (RSASSA-PKCS1-v1_5 with SHA-256) signature with the certificate's key.
pub fn verify_rs256(certificate: &Certificate, message: &[u8], sig: &[u8]) -> bool {
    certificate.rsa_public_key.as_ref().is_some_and(|key| {
        signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, key)
            .verify(message, sig)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Base64 body of the first PEM block (tests and CLI helpers load certificates this way).
    fn pem_body(pem: &str) -> Option<Vec<u8>> {
        use base64::Engine as _;
        let body: String = pem
            .lines()
            .skip_while(|l| !l.starts_with("-----BEGIN"))
            .skip(1)
            .take_while(|l| !l.starts_with("-----END"))
            .collect();
        base64::engine::general_purpose::STANDARD.decode(body).ok()
    }

    #[test]
    fn reads_the_test_certificate() {
        let pem = include_str!("../../tests/fixtures/sandbox-client.crt");
        let der = pem_body(pem).unwrap();
        let cert = parse(&der).unwrap();
        assert_eq!(cert.subject_cn.as_deref(), Some("appreg-sandbox-test"));
        assert!(cert.not_after > cert.not_before);
        assert!(cert.rsa_public_key.is_some());
        assert!(parse(b"not a certificate").is_none());
    }
}
