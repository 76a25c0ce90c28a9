//! Credential lifecycle: client secrets with overlapping rotation and delivery to exactly one sink,
//! certificates as keyCredentials, and expiry reporting.
//!
//! `lifecycle` decides (pure) what one secret needs; `sinks` deliver values and say what they hold;
//! `keyvault` is the Key Vault REST client the keyVault sink uses; `certificate` reads public
//! certificate files; `files` is the only way a file a manifest names is opened; `lock` keeps
//! applies of one manifest directory apart. The engine drives them; nothing here plans other
//! objects or renders output.

pub mod certificate;
pub mod files;
pub mod keyvault;
pub mod lifecycle;
pub mod lock;
pub mod sinks;

pub use certificate::CertificateFile;
pub use keyvault::KeyVaultClient;
pub use lifecycle::{Holding, LiveSecret, SecretAction, SecretPlan, days_left, plan_secret};
pub use sinks::{Delivery, SinkError, Sinks};
