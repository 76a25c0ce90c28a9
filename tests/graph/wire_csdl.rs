//! Every property name in appreg's Graph wire types exists, with that spelling, on the matching
//! type of the Graph v1.0 schema (tests/fixtures/graph-v1.0-properties.tsv, extracted from
//! shared/reference/msgraph-metadata/v1.0-Prod.csdl by tools/graph-schema/extract.py). The field names are read from the serde derives themselves, so a rename in the
//! code cannot drift from what is checked.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use appreg::graph::wire::*;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A deserializer that only records the field names a derived `Deserialize` asks for.
struct FieldNames<'a>(&'a mut Vec<&'static str>);

#[derive(Debug)]
struct Stop;
impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stop")
    }
}
impl std::error::Error for Stop {}
impl de::Error for Stop {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Stop
    }
}

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = Stop;
    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        self.0.extend_from_slice(fields);
        Err(Stop)
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

fn fields_of<'de, T: Deserialize<'de>>() -> Vec<&'static str> {
    let mut names = Vec::new();
    let _ = T::deserialize(FieldNames(&mut names));
    names
}

/// Property names of each entity and complex type, inherited ones included, as extracted from the
/// Graph v1.0 CSDL into tests/fixtures (tools/graph-schema/extract.py regenerates it).
fn schema() -> Option<HashMap<String, BTreeSet<String>>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/graph-v1.0-properties.tsv"
    );
    let text = std::fs::read_to_string(path).ok()?;
    Some(
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('\t'))
            .map(|(ty, props)| {
                (
                    ty.to_string(),
                    props.split(',').map(str::to_string).collect(),
                )
            })
            .collect(),
    )
}

#[test]
fn wire_property_names_exist_in_the_graph_schema() {
    let Some(schema) = schema() else {
        panic!(
            "tests/fixtures/graph-v1.0-properties.tsv is missing; run tools/graph-schema/extract.py"
        );
    };
    let cases: Vec<(&str, Vec<&'static str>)> = vec![
        ("application", fields_of::<Application>()),
        ("webApplication", fields_of::<WebApplication>()),
        (
            "implicitGrantSettings",
            fields_of::<ImplicitGrantSettings>(),
        ),
        ("spaApplication", fields_of::<SpaApplication>()),
        (
            "publicClientApplication",
            fields_of::<PublicClientApplication>(),
        ),
        ("apiApplication", fields_of::<ApiApplication>()),
        ("permissionScope", fields_of::<PermissionScope>()),
        (
            "preAuthorizedApplication",
            fields_of::<PreAuthorizedApplication>(),
        ),
        ("appRole", fields_of::<AppRole>()),
        ("optionalClaims", fields_of::<OptionalClaims>()),
        ("optionalClaim", fields_of::<OptionalClaim>()),
        ("informationalUrl", fields_of::<InformationalUrl>()),
        (
            "requiredResourceAccess",
            fields_of::<RequiredResourceAccess>(),
        ),
        ("resourceAccess", fields_of::<ResourceAccess>()),
        ("passwordCredential", fields_of::<PasswordCredential>()),
        ("keyCredential", fields_of::<KeyCredential>()),
        ("servicePrincipal", fields_of::<ServicePrincipal>()),
        ("appRoleAssignment", fields_of::<AppRoleAssignment>()),
        (
            "oAuth2PermissionGrant",
            fields_of::<OAuth2PermissionGrant>(),
        ),
        (
            "federatedIdentityCredential",
            fields_of::<FederatedIdentityCredential>(),
        ),
        ("user", fields_of::<User>()),
        ("group", fields_of::<Group>()),
    ];
    let mut wrong = Vec::new();
    for (csdl, fields) in &cases {
        assert!(!fields.is_empty(), "{csdl}: no fields read");
        let known = schema
            .get(*csdl)
            .unwrap_or_else(|| panic!("{csdl} not in the schema"));
        wrong.extend(
            fields
                .iter()
                .filter(|f| !known.contains(**f))
                .map(|f| format!("{csdl}.{f}")),
        );
    }
    // directoryObject lists carry derived types: their properties come from user, group,
    // servicePrincipal or application.
    for f in fields_of::<DirectoryObject>()
        .into_iter()
        .filter(|f| !f.starts_with('@'))
    {
        let found = [
            "directoryObject",
            "user",
            "group",
            "servicePrincipal",
            "application",
        ]
        .iter()
        .any(|t| schema[*t].contains(f));
        if !found {
            wrong.push(format!("directoryObject.{f}"));
        }
    }
    assert!(wrong.is_empty(), "not in the Graph v1.0 schema: {wrong:?}");
}
