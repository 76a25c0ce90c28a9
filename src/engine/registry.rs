//! The credential sequences apply runs, each behind the [`CredentialSequence`] contract.
//!
//! Kinds are listed in `kinds::KINDS`; sequences are listed here because their implementations
//! (`engine::secrets`) use the kinds' context, so listing them among the kinds would make the two
//! modules import each other. Nothing here plans or writes.

use super::kinds::CredentialSequence;
use super::secrets::ClientSecrets;

/// Every credential sequence, in apply order within a phase.
pub static SEQUENCES: [&dyn CredentialSequence; 1] = [&ClientSecrets];
