//! `appreg schema [manifest|validate|plan|apply|output|credentials]`: print a JSON Schema, the text
//! of schemas/appreg.schema.json (the manifest) or of schemas/NAME.schema.json (a `--json` document).

use std::io::Write;

use super::{EXIT_ERROR, EXIT_OK};
use crate::output::machine::Document;

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Which schema: the manifest format, or the `--json` document of a command (`plan` also
    /// describes `drift --json` and saved plans; `output` also the file `apply --outputs` writes).
    #[arg(value_enum, default_value_t = Which::Manifest)]
    pub which: Which,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    Manifest,
    Validate,
    Plan,
    Apply,
    Output,
    Credentials,
}

pub fn run(args: &SchemaArgs) -> u8 {
    let text = match args.which {
        Which::Manifest => crate::manifest::schema_json(),
        Which::Validate => Document::Validate.schema_json(),
        Which::Plan => Document::Plan.schema_json(),
        Which::Apply => Document::Apply.schema_json(),
        Which::Output => Document::Output.schema_json(),
        Which::Credentials => Document::Credentials.schema_json(),
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
