//! The sandbox's Key Vault data: vaults, secrets and their versions, kept in the tenant's store and
//! saved with it. Plain data and its rules; `vault_listener` serves it over HTTP.

mod error;
mod secrets;

pub use error::VaultError;
pub use secrets::{Answer, KeyVaults, Page, Scope, check_name};
