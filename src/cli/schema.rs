//! `appreg schema [manifest|plan]`: print a JSON Schema (the text of schemas/appreg.schema.json or
//! schemas/plan.schema.json).

use std::io::Write;

use super::{EXIT_ERROR, EXIT_OK};

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Which schema: the manifest format, or the JSON plan format (`plan --json`, `plan --out`).
    #[arg(value_enum, default_value_t = Which::Manifest)]
    pub which: Which,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    Manifest,
    Plan,
}

pub fn run(args: &SchemaArgs) -> u8 {
    let text = match args.which {
        Which::Manifest => crate::manifest::schema_json(),
        Which::Plan => crate::engine::plan::schema_json(),
    };
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
