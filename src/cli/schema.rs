//! `appreg schema`: print the manifest JSON Schema (the same text as schemas/appreg.schema.json).

use std::io::Write;

use super::{EXIT_ERROR, EXIT_OK};

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {}

pub fn run(_args: &SchemaArgs) -> u8 {
    let text = crate::manifest::schema_json();
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()) {
        Ok(()) => EXIT_OK,
        // A closed pipe (`appreg schema | head`) is the reader's choice, not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(e) => {
            eprintln!("error: cannot write the schema: {e}");
            EXIT_ERROR
        }
    }
}
