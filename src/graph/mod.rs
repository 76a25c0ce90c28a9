//! placeholder
pub mod auth;
pub mod cloud;
pub mod odata;
pub mod secret;
