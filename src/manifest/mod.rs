//! Manifests: the YAML wire format, loading with source positions, interpolation, validation, and the
//! translation into the desired-state model.
//!
//! Nothing in here talks to Graph: every check is offline, and every problem is reported at once with
//! its file:line:column.

pub mod wire;

/// The manifest JSON Schema, generated from the wire types.
pub fn schema() -> schemars::Schema {
    schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<wire::ManifestFile>()
}

/// The schema as checked in at schemas/appreg.schema.json: pretty JSON with a trailing newline.
pub fn schema_json() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).expect("a schema always serializes");
    text.push('\n');
    text
}

mod characters;
pub mod diagnostic;
pub mod domains;
pub mod emit;
mod interpolate;
mod load;
mod lower;
mod settings;
pub mod source;
mod structure;
mod validate;
mod view;
mod yaml;

pub use interpolate::VARIABLE_PREFIX;
pub use load::{
    Invalid, Loaded, MAX_FILE_BYTES, MAX_TOTAL_BYTES, load, load_bytes, load_bytes_on, load_on,
    today,
};
pub use lower::{derived_id, to_wire};
pub use view::OutOfView;
