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
pub use lifecycle::{Cap, Holding, LiveSecret, SecretAction, SecretPlan, days_left, plan_secret};
pub use sinks::{Delivery, SinkError, Sinks};

/// Longest piece of a server's or tenant's text quoted in a message, in characters.
const QUOTED_MAX: usize = 300;

/// Text a server sent, fit to print: control, bidirectional and invisible characters escaped
/// (so no escape sequence reaches a terminal and no line break can start a `::` workflow
/// command), cut after [`QUOTED_MAX`] characters.
pub fn server_text(text: &str) -> String {
    let escaped = crate::manifest::diagnostic::escape_hidden(text);
    match escaped.char_indices().nth(QUOTED_MAX) {
        Some((at, _)) => format!("{}…", &escaped[..at]),
        None => escaped.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_escapes_what_a_terminal_or_a_runner_would_obey() {
        let text = server_text("denied\u{1b}[2J\n::add-mask::x\r\u{202e}");
        assert!(
            !text.chars().any(crate::manifest::diagnostic::is_hidden),
            "{text}"
        );
        assert!(!text.lines().any(|l| l.starts_with("::")), "{text}");
        assert!(text.contains("\\u{1b}"), "{text}");
        assert!(server_text(&"x".repeat(10_000)).chars().count() <= QUOTED_MAX + 1);
    }
}
