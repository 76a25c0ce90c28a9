//! The checked-in JSON Schemas are what the code generates, and the examples satisfy it according to an
//! independent validator (the `jsonschema` crate), not only appreg's own loader.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn checked_in_schema_matches_the_generated_one() {
    let checked_in = std::fs::read_to_string(root().join("schemas/appreg.schema.json")).unwrap();
    assert!(
        checked_in == appreg::manifest::schema_json(),
        "schemas/appreg.schema.json is stale: run `cargo run -- schema > schemas/appreg.schema.json`"
    );
}

#[test]
fn checked_in_plan_schema_matches_the_generated_one() {
    let checked_in = std::fs::read_to_string(root().join("schemas/plan.schema.json")).unwrap();
    assert!(
        checked_in == appreg::engine::plan::schema_json(),
        "schemas/plan.schema.json is stale: run `cargo run -- schema plan > schemas/plan.schema.json`"
    );
}

#[test]
fn checked_in_json_output_schemas_match_the_generated_ones() {
    for document in appreg::output::machine::Document::ALL {
        let name = document.name();
        let path = root().join(format!("schemas/{name}.schema.json"));
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == document.schema_json(),
            "schemas/{name}.schema.json is stale: run `cargo run -- schema {name} > schemas/{name}.schema.json`"
        );
    }
}

fn example_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![root().join("examples")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                // examples/pipelines holds CI files to copy, not manifests.
                if path.file_name().is_some_and(|n| n == "pipelines") {
                    continue;
                }
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn examples_satisfy_the_schema_per_an_independent_validator() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schemas/appreg.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let files = example_files();
    assert!(files.len() >= 5, "expected the examples, found {files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema="),
            "{} lacks the yaml-language-server modeline",
            file.display()
        );
        let instance: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", file.display());
    }
}

#[test]
fn appreg_validates_the_examples() {
    let env = |_: &str| None;
    for paths in [
        vec![root().join("examples")],
        vec![root().join("examples/multi-file")],
    ] {
        match appreg::manifest::load(&paths, &env) {
            Ok(loaded) => assert!(
                loaded.warnings.is_empty(),
                "{:?}: {:#?}",
                paths,
                loaded.warnings
            ),
            Err(invalid) => panic!("{paths:?}: {:#?}", invalid.diagnostics),
        }
    }
}

#[test]
fn the_schema_rejects_what_the_loader_rejects_structurally() {
    // Why: the loader's structural check walks this same schema; an unknown key must fail both.
    let schema: serde_json::Value = serde_json::from_str(&appreg::manifest::schema_json()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let bad = serde_json::json!({"version": 1, "name": "x", "apps": {"a": {"displayName": "A", "redirectUri": []}}});
    assert!(!validator.is_valid(&bad));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.yaml");
    std::fs::write(
        &path,
        "version: 1\nname: x\napps:\n  a:\n    displayName: A\n    redirectUri: []\n",
    )
    .unwrap();
    let invalid = appreg::manifest::load(&[path], &|_: &str| None).unwrap_err();
    assert_eq!(invalid.diagnostics[0].code, "unknown-field");
}
