//! Deterministic identifiers: object ids from a seed, and Graph's derived ids for role assignments
//! and permission grants.
//!
//! Ids come from a counter hashed with the seed, so the same sequence of requests against the same
//! seed yields the same ids (stable tests and snapshots) while still looking like random GUIDs.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Hands out GUIDs derived from `(seed, counter)`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdGen {
    seed: u64,
    counter: u64,
}

impl IdGen {
    pub fn new(seed: u64) -> Self {
        IdGen { seed, counter: 0 }
    }

    pub fn next_id(&mut self) -> Uuid {
        self.counter += 1;
        derive(&[&self.seed.to_le_bytes(), &self.counter.to_le_bytes()])
    }
}

/// A version-4-shaped GUID from the hash of `parts`.
pub fn derive(parts: &[&[u8]]) -> Uuid {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// appRoleAssignment id: principalId in little-endian GUID byte order, then 16 bytes that make the
/// (principal, resource, role) triple unique; 43 characters of unpadded base64url, as Graph's are.
pub fn assignment_id(principal: Uuid, resource: Uuid, app_role: Uuid) -> String {
    let mut bytes = principal.to_bytes_le().to_vec();
    let tail = derive(&[resource.as_bytes(), app_role.as_bytes()]);
    bytes.extend_from_slice(&tail.to_bytes_le());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// oauth2PermissionGrant id: clientId and resourceId (and principalId for Principal consent), each
/// in little-endian GUID byte order, unpadded base64url.
pub fn grant_id(client: Uuid, resource: Uuid, principal: Option<Uuid>) -> String {
    let mut bytes = client.to_bytes_le().to_vec();
    bytes.extend_from_slice(&resource.to_bytes_le());
    if let Some(principal) = principal {
        bytes.extend_from_slice(&principal.to_bytes_le());
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_ids() {
        let (mut a, mut b) = (IdGen::new(7), IdGen::new(7));
        assert_eq!(a.next_id(), b.next_id());
        assert_ne!(a.next_id(), IdGen::new(8).next_id());
    }

    #[test]
    fn assignment_id_starts_with_principal_le_bytes() {
        let principal = Uuid::parse_str("f8e9a8e4-1a2b-4c3d-8e9f-0a1b2c3d4e5f").unwrap();
        let id = assignment_id(principal, Uuid::nil(), Uuid::nil());
        assert_eq!(id.len(), 43);
        let bytes = URL_SAFE_NO_PAD.decode(&id).unwrap();
        assert_eq!(
            Uuid::from_bytes_le(bytes[..16].try_into().unwrap()),
            principal
        );
    }

    #[test]
    fn grant_ids_have_graph_lengths() {
        let (c, r, p) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(grant_id(c, r, None).len(), 43);
        assert_eq!(grant_id(c, r, Some(p)).len(), 64);
    }
}
