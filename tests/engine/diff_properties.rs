//! Properties of the one diff the engine uses (src/engine/fields.rs) and of the normalisation
//! that feeds it (src/engine/application.rs), over random field maps and random Graph
//! application objects:
//! - diff(x, x) is empty, for raw field maps and for normalised applications;
//! - applying a diff's `after` values to the live side yields the desired side;
//! - the diff is symmetric, sorted, without repeats, and lists only fields that differ;
//! - reordering a set-valued list is no change;
//! - a field `lifecycle.ignore` names never appears in a diff, whatever both sides hold.
//!
//! tests/engine/e2e.rs has the end-to-end property (random manifests on random tenants converge in
//! one apply); these run in milliseconds and pin the diff itself.

use std::collections::BTreeSet;

use appreg::engine::application::normalize;
use appreg::engine::fields::{Fields, diff, string_set};
use appreg::engine::plan::FieldChange;
use appreg::model::IgnoredField;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Any JSON value, two levels deep.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-3i64..3).prop_map(Value::from),
        "[a-c' ]{0,3}".prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-c]{1,2}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A field map over a small key space, so two random maps share keys often.
fn any_fields() -> impl Strategy<Value = Fields> {
    prop::collection::btree_map("(web\\.)?[a-d]", any_value(), 0..6)
}

/// `live` with each change's `after` written in (or the field removed when `after` is None).
fn patched(live: &Fields, changes: &[FieldChange]) -> Fields {
    let mut out = live.clone();
    for change in changes {
        match &change.after {
            Some(v) => out.insert(change.field.clone(), v.clone()),
            None => out.remove(&change.field),
        };
    }
    out
}

/// Null and absent are the same to the diff.
fn without_nulls(fields: &Fields) -> Fields {
    fields
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn text() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(Value::from("")),
        "[A-Za-z' ]{1,6}".prop_map(Value::from)
    ]
}

fn uris() -> impl Strategy<Value = Value> {
    prop::collection::vec("https://[a-c]{1,2}\\.example\\.com/[a-c]{0,2}", 0..4)
        .prop_map(|v| json!(v))
}

/// A Graph application object with every property appreg compares, random values.
fn any_app() -> impl Strategy<Value = Value> {
    (
        (text(), text(), text(), uris(), uris()),
        (uris(), uris(), uris(), text(), text()),
        (any::<bool>(), any::<bool>(), any::<bool>(), 1i64..3, text()),
    )
        .prop_map(
            |(
                (display, description, notes, tags, identifiers),
                (web, spa, public, home, marketing),
                (fallback, access, id_tokens, version, scope),
            )| {
                json!({
                    "displayName": display,
                    "description": description,
                    "notes": notes,
                    "tags": tags,
                    "identifierUris": identifiers,
                    "signInAudience": "AzureADMyOrg",
                    "isFallbackPublicClient": fallback,
                    "web": {
                        "redirectUris": web,
                        "homePageUrl": home,
                        "logoutUrl": Value::Null,
                        "implicitGrantSettings": {
                            "enableAccessTokenIssuance": access,
                            "enableIdTokenIssuance": id_tokens,
                        },
                    },
                    "spa": { "redirectUris": spa },
                    "publicClient": { "redirectUris": public },
                    "api": {
                        "requestedAccessTokenVersion": version,
                        "oauth2PermissionScopes": [{
                            "id": "5b0b7d0e-0000-4000-8000-000000000001",
                            "value": scope,
                            "type": "User",
                            "isEnabled": true,
                        }],
                        "preAuthorizedApplications": [],
                    },
                    "appRoles": [],
                    "info": { "marketingUrl": marketing },
                    "optionalClaims": Value::Null,
                    "requiredResourceAccess": [],
                })
            },
        )
}

const IGNORABLE: [IgnoredField; 16] = [
    IgnoredField::Description,
    IgnoredField::Notes,
    IgnoredField::Tags,
    IgnoredField::Owners,
    IgnoredField::IdentifierUris,
    IgnoredField::WebRedirectUris,
    IgnoredField::SpaRedirectUris,
    IgnoredField::PublicClientRedirectUris,
    IgnoredField::Api,
    IgnoredField::AppRoles,
    IgnoredField::OptionalClaims,
    IgnoredField::Info,
    IgnoredField::Permissions,
    IgnoredField::Assignments,
    IgnoredField::Certificates,
    IgnoredField::FederatedCredentials,
];

/// The compared keys `field` guards: present when nothing is ignored, gone when it is.
fn guarded(field: IgnoredField, app: &Value) -> BTreeSet<String> {
    let all = normalize(app, &[], &BTreeSet::new());
    let without = normalize(app, &[], &BTreeSet::from([field]));
    all.keys()
        .filter(|k| !without.contains_key(*k))
        .cloned()
        .collect()
}

#[test]
fn ignore_entries_guard_the_fields_they_name() {
    // Why: the property below is only as strong as this map; pin the obvious entries.
    let app = json!({"description": "d", "notes": "n", "tags": ["t"], "web": {"redirectUris": ["https://x"]}});
    let cases = [
        (IgnoredField::Description, "description"),
        (IgnoredField::Notes, "notes"),
        (IgnoredField::Tags, "tags"),
        (IgnoredField::WebRedirectUris, "web.redirectUris"),
    ];
    for (field, key) in cases {
        assert!(
            guarded(field, &app).contains(key),
            "{field:?} does not guard `{key}`"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn diff_of_a_map_with_itself_is_empty(x in any_fields()) {
        prop_assert!(diff(&x, &x).is_empty());
    }

    #[test]
    fn applying_the_diff_to_live_yields_desired(desired in any_fields(), live in any_fields()) {
        let changes = diff(&desired, &live);
        let after = patched(&live, &changes);
        prop_assert!(diff(&desired, &after).is_empty(), "left over: {:?}", diff(&desired, &after));
        prop_assert_eq!(without_nulls(&after), without_nulls(&desired));
    }

    #[test]
    fn diff_is_symmetric_sorted_and_only_lists_differences(a in any_fields(), b in any_fields()) {
        let forward = diff(&a, &b);
        let backward = diff(&b, &a);
        prop_assert_eq!(forward.len(), backward.len());
        for (f, g) in forward.iter().zip(&backward) {
            prop_assert_eq!(&f.field, &g.field);
            prop_assert_eq!(&f.before, &g.after);
            prop_assert_eq!(&f.after, &g.before);
            prop_assert_ne!(&f.before, &f.after);
        }
        let names: Vec<&String> = forward.iter().map(|c| &c.field).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        prop_assert_eq!(names, sorted);
        for key in a.keys().chain(b.keys()) {
            let differs = a.get(key).filter(|v| !v.is_null()) != b.get(key).filter(|v| !v.is_null());
            prop_assert_eq!(differs, forward.iter().any(|c| &c.field == key), "{}", key);
        }
    }

    #[test]
    fn reordering_a_set_is_no_change(values in prop::collection::vec("[a-d]{0,2}", 0..6), seed in any::<u64>()) {
        let mut shuffled = values.clone();
        // A deterministic permutation from the seed.
        let n = shuffled.len().max(1) as u64;
        shuffled.rotate_left((seed % n) as usize);
        if seed % 2 == 0 {
            shuffled.reverse();
        }
        prop_assert_eq!(
            string_set(values.iter().map(String::as_str)),
            string_set(shuffled.iter().map(String::as_str))
        );
    }

    #[test]
    fn a_normalised_application_has_no_diff_with_itself_or_its_reordering(app in any_app()) {
        let ignore = BTreeSet::new();
        let x = normalize(&app, &[], &ignore);
        prop_assert!(diff(&x, &x).is_empty());
        let mut reordered = app.clone();
        for path in [&["tags"][..], &["identifierUris"], &["web", "redirectUris"], &["spa", "redirectUris"]] {
            let mut node = &mut reordered;
            for key in path {
                node = &mut node[*key];
            }
            if let Some(list) = node.as_array_mut() {
                list.reverse();
            }
        }
        let y = normalize(&reordered, &[], &ignore);
        prop_assert!(diff(&x, &y).is_empty(), "{:?}", diff(&x, &y));
    }

    #[test]
    fn ignored_fields_never_appear_in_a_diff(
        desired in any_app(),
        live in any_app(),
        picks in prop::collection::vec(any::<bool>(), IGNORABLE.len()),
    ) {
        let ignore: BTreeSet<IgnoredField> = IGNORABLE
            .iter()
            .zip(&picks)
            .filter(|(_, p)| **p)
            .map(|(f, _)| *f)
            .collect();
        let changes = diff(&normalize(&desired, &[], &ignore), &normalize(&live, &[], &ignore));
        for field in &ignore {
            let keys: BTreeSet<String> = guarded(*field, &desired).union(&guarded(*field, &live)).cloned().collect();
            for change in &changes {
                prop_assert!(
                    !keys.contains(&change.field),
                    "`{}` is in the diff though {:?} is ignored", change.field, field
                );
            }
        }
    }
}
