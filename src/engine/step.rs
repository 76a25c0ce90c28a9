//! The values the planner hands to apply and that apply fills in: an instance of a kind, a planned
//! step, the ids learnt about each app, and the report of what was done.
//!
//! They live here, not in the planner, apply or a kind, because the kinds, the secret sequence,
//! the planner and apply all use them: a shared type inside one of its users ties those modules
//! into circles. This module holds data only; it never plans, observes or writes, and it imports
//! nothing of the engine but the plan's vocabulary.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::address::Address;
use super::fields::Fields;
use super::plan::{Action, ResourceType};
use crate::credentials::{Holding, SecretPlan};
use crate::graph::GraphError;

/// Which registered kind produced an instance (its place in `kinds::KINDS`), stamped by
/// `kinds::instances`; None for the instances of a credential sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindId(pub(in crate::engine) usize);

/// One object, desired or live, of one kind.
#[derive(Debug, Clone)]
pub struct Instance {
    pub address: Address,
    pub resource: ResourceType,
    pub fields: Fields,
    /// The live Graph object (its ids are needed to update or delete it).
    pub live: Option<Value>,
    /// The kind that carries out writes of this instance.
    pub kind: Option<KindId>,
}

impl Instance {
    pub fn new(address: Address, resource: ResourceType, fields: Fields) -> Instance {
        Instance {
            address,
            resource,
            fields,
            live: None,
            kind: None,
        }
    }

    pub fn observed(mut self, live: &Value) -> Instance {
        self.live = Some(live.clone());
        self
    }
}

/// What apply needs to carry out one planned change: the desired and live instances.
#[derive(Debug, Clone)]
pub struct Step {
    /// The manifest key of the app this change belongs to; None for a pruned stray app.
    pub app_key: Option<String>,
    /// Boxed, like `secret`: a plan of 10,000 unchanged apps holds 80,000 steps, and two
    /// instances inline made each 256 bytes.
    pub desired: Option<Box<Instance>>,
    pub live: Option<Box<Instance>>,
    /// For a client secret: its planned sequence (boxed: a plan holds a step per change, and
    /// most are not secrets).
    pub secret: Option<Box<SecretStep>>,
}

impl Step {
    /// The step of a change apply never writes: it keeps which kind and app it is (in a bare
    /// desired instance), not the compared fields, the live instance nor a copy of the live
    /// object (at 10,000 unchanged apps those copies were as large as the observation itself).
    pub fn unchanged(self) -> Step {
        let kind = self.kind();
        let bare = |i: Box<Instance>| {
            Box::new(Instance {
                kind,
                ..Instance::new(i.address, i.resource, Fields::new())
            })
        };
        Step {
            desired: self.desired.or(self.live).map(bare),
            live: None,
            ..self
        }
    }

    /// The step of a change apply writes: the compared fields are the plan's business (its field
    /// changes), never apply's, which builds each write from the manifest and the live object.
    pub fn to_write(self) -> Step {
        let lean = |i: Box<Instance>| {
            Box::new(Instance {
                fields: Fields::new(),
                ..*i
            })
        };
        Step {
            desired: self.desired.map(lean),
            live: self.live.map(lean),
            ..self
        }
    }

    /// The kind that carries this step out, from its desired instance or else its live one.
    pub fn kind(&self) -> Option<KindId> {
        self.desired
            .as_ref()
            .and_then(|i| i.kind)
            .or_else(|| self.live.as_ref().and_then(|i| i.kind))
    }
}

/// The secret part of a planned step.
#[derive(Debug, Clone)]
pub struct SecretStep {
    pub name: String,
    pub plan: SecretPlan,
    /// keyIds of the app's password credentials when the plan was made: a credential of this
    /// name outside them, seen after an `addPassword` whose answer was lost, is that call's.
    pub known: Vec<String>,
    /// What the sink held when the plan was made, None when the plan did not read it (the app did
    /// not exist yet): delivery re-reads it and refuses when it moved.
    pub holding: Option<Holding>,
}

/// Ids of one app in the tenant, learnt from observation and from writes.
#[derive(Debug, Clone, Default)]
pub struct AppIds {
    pub object_id: Option<String>,
    pub app_id: Option<String>,
    pub sp_id: Option<String>,
    /// Created in this run: reads and references may lag behind.
    pub fresh: bool,
}

/// A secret apply delivered: the address, keyId and expiry (never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub address: Address,
    /// The manifest key of the app and the secret's name, so readers never parse the address.
    pub app_key: String,
    pub name: String,
    pub key_id: String,
    pub expiry: DateTime<Utc>,
}

/// Why a kind could not build the request for a planned change. Each is a planning invariant that
/// apply found broken; it is reported against the change and the run goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error("the {0} has no id yet")]
    MissingId(&'static str),
    #[error("the {0} is not declared in the manifest")]
    NotDeclared(&'static str),
    #[error("the {0} was not found in the tenant")]
    NotInTenant(&'static str),
    #[error("{0} has no fields to update")]
    NothingToUpdate(&'static str),
    #[error("the address does not name a {0}")]
    Address(&'static str),
    #[error("{0}")]
    Certificate(String),
    #[error("nothing to do")]
    NoOp,
    #[error("no kind carries out this change")]
    NoKind,
}

/// Why a planned change was not carried out.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FailureReason {
    /// The object it hangs off was not written (its own write failed).
    #[error("{0}")]
    Skipped(&'static str),
    /// The request could not be built.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Graph refused the write.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// A credential sequence stopped; the text is already escaped for display.
    #[error("{0}")]
    Sequence(String),
}

/// A change apply did not carry out, and why.
#[derive(Debug, Clone)]
pub struct Failure {
    pub address: Address,
    pub reason: FailureReason,
}

impl Failure {
    pub fn new(address: &Address, reason: impl Into<FailureReason>) -> Failure {
        Failure {
            address: address.clone(),
            reason: reason.into(),
        }
    }
}

/// What apply did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    /// Address and action of every change carried out.
    pub done: Vec<(Address, Action)>,
    /// Changes that failed, with why; dependants of a failed change are skipped and listed too.
    pub failed: Vec<Failure>,
    pub ids: BTreeMap<String, AppIds>,
    /// Secrets delivered (address, keyId, expiry; never a value).
    pub delivered: Vec<Delivered>,
}

/// A stable digest of a JSON value (object keys are sorted by serde_json's map).
pub fn digest(value: &Value) -> String {
    digest_of(value)
}

/// A digest of what `value` serialises to as JSON, hashed as it is written: no text nor JSON tree
/// of the whole value is held (the desired state of 10,000 apps is tens of megabytes of either).
/// Stable as long as the serialisation is (struct fields in order, maps sorted).
pub fn digest_of(value: &impl serde::Serialize) -> String {
    struct Hashing(Sha256);
    impl std::io::Write for Hashing {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.update(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hashing = Hashing(Sha256::new());
    // Writing into a hasher cannot fail; a value that cannot be serialised hashes what was written.
    let _ = serde_json::to_writer(&mut hashing, value);
    let hash = hashing.0.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(hash.len() * 2);
    for b in hash {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_step_keeps_its_kind_and_app_but_no_copies() {
        let instance = || {
            let mut fields = Fields::new();
            fields.insert("displayName".into(), Value::from("crm"));
            let mut i = Instance::new(Address::app("crm"), ResourceType::Application, fields)
                .observed(&serde_json::json!({"id": "1", "displayName": "crm"}));
            i.kind = Some(KindId(0));
            i
        };
        let step = Step {
            app_key: Some("crm".into()),
            desired: Some(Box::new(instance())),
            live: Some(Box::new(instance())),
            secret: None,
        }
        .unchanged();
        assert_eq!(step.kind(), Some(KindId(0)));
        assert_eq!(step.app_key.as_deref(), Some("crm"));
        let bare = step.desired.as_ref().unwrap();
        assert!(bare.fields.is_empty() && bare.live.is_none());
        assert_eq!(bare.address, Address::app("crm"));
        assert!(step.live.is_none());
        let write = Step {
            app_key: Some("crm".into()),
            desired: Some(Box::new(instance())),
            live: Some(Box::new(instance())),
            secret: None,
        }
        .to_write();
        assert_eq!(write.kind(), Some(KindId(0)));
        assert!(write.desired.as_ref().unwrap().fields.is_empty());
        let live = write.live.as_ref().unwrap();
        assert!(live.fields.is_empty());
        assert_eq!(
            live.live.as_ref().unwrap()["id"],
            "1",
            "apply needs the live ids"
        );
    }

    #[test]
    fn a_digest_hashes_the_json_text() {
        let value = serde_json::json!({"b": [1, "two"], "a": null});
        let text = serde_json::to_vec(&value).unwrap();
        let expected: String = Sha256::digest(&text)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(digest(&value), expected);
        assert_ne!(
            digest(&value),
            digest(&serde_json::json!({"b": [1, "two"]}))
        );
    }
}
