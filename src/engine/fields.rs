//! Comparable field maps and the one diff the engine uses.
//!
//! Every resource kind turns both its desired Graph body and the live Graph object into a `Fields`
//! map through the same normalisation (sets sorted, Graph defaults filled in), so a difference means
//! a real difference and reordering a list is no change. Diffing lives here, once, where it can be
//! property-tested.

use std::collections::BTreeMap;

use serde_json::Value;

use super::plan::FieldChange;

/// Field path (manifest-style, such as `web.redirectUris`) -> normalised value.
pub type Fields = BTreeMap<String, Value>;

/// The fields whose values differ, in path order. A field missing on one side compares as null.
pub fn diff(desired: &Fields, live: &Fields) -> Vec<FieldChange> {
    let mut keys: Vec<&String> = desired.keys().chain(live.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let before = live.get(key).filter(|v| !v.is_null());
            let after = desired.get(key).filter(|v| !v.is_null());
            (before != after).then(|| FieldChange {
                field: key.clone(),
                before: before.cloned(),
                after: after.cloned(),
            })
        })
        .collect()
}

/// A set of strings as a sorted, deduplicated JSON array (empty sets compare as null).
pub fn string_set<'a>(values: impl IntoIterator<Item = &'a str>) -> Value {
    let mut values: Vec<&str> = values.into_iter().collect();
    values.sort_unstable();
    values.dedup();
    if values.is_empty() {
        Value::Null
    } else {
        Value::Array(
            values
                .into_iter()
                .map(|v| Value::String(v.to_string()))
                .collect(),
        )
    }
}

/// The strings of a JSON array (ignoring anything else).
pub fn strings(value: Option<&Value>) -> Vec<&str> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// A JSON array of objects sorted by one key, with each object's string-array members sorted too;
/// empty arrays compare as null.
pub fn object_set(items: Option<&Value>, key: &str) -> Value {
    let mut items: Vec<Value> = items.and_then(Value::as_array).cloned().unwrap_or_default();
    for item in &mut items {
        if let Some(object) = item.as_object_mut() {
            for value in object.values_mut() {
                if value
                    .as_array()
                    .is_some_and(|a| a.iter().all(Value::is_string))
                {
                    *value = string_set(strings(Some(value)));
                }
            }
        }
    }
    items.sort_by(|a, b| {
        a.get(key)
            .map(Value::to_string)
            .cmp(&b.get(key).map(Value::to_string))
    });
    if items.is_empty() {
        Value::Null
    } else {
        Value::Array(items)
    }
}

/// Null and false are the same for Graph's optional booleans.
pub fn flag(value: Option<&Value>) -> Value {
    Value::Bool(value.and_then(Value::as_bool).unwrap_or(false))
}

/// A string value, with empty strings compared as absent.
pub fn text(value: Option<&Value>) -> Value {
    match value.and_then(Value::as_str) {
        Some(s) if !s.is_empty() => Value::String(s.to_string()),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(pairs: &[(&str, Value)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn reordered_sets_are_no_change() {
        let a = fields(&[("tags", string_set(["b", "a"]))]);
        let b = fields(&[("tags", string_set(["a", "b", "a"]))]);
        assert!(diff(&a, &b).is_empty());
    }

    #[test]
    fn missing_and_null_and_empty_are_the_same() {
        let a = fields(&[("notes", Value::Null), ("tags", string_set([]))]);
        let b = fields(&[]);
        assert!(diff(&a, &b).is_empty());
    }

    #[test]
    fn changes_carry_before_and_after() {
        let desired = fields(&[("displayName", json!("New")), ("description", json!("d"))]);
        let live = fields(&[("displayName", json!("Old")), ("notes", json!("n"))]);
        let changes = diff(&desired, &live);
        let summary: Vec<_> = changes
            .iter()
            .map(|c| (c.field.as_str(), c.before.clone(), c.after.clone()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("description", None, Some(json!("d"))),
                ("displayName", Some(json!("Old")), Some(json!("New"))),
                ("notes", Some(json!("n")), None),
            ]
        );
    }

    #[test]
    fn object_sets_ignore_order_of_items_and_of_their_lists() {
        let a = object_set(
            Some(&json!([{"id": "2", "m": ["y", "x"]}, {"id": "1"}])),
            "id",
        );
        let b = object_set(
            Some(&json!([{"id": "1"}, {"id": "2", "m": ["x", "y"]}])),
            "id",
        );
        assert_eq!(a, b);
    }

    #[test]
    fn an_empty_string_compares_as_absent_and_a_value_as_itself() {
        assert_eq!(text(Some(&json!(""))), Value::Null);
        assert_eq!(text(None), Value::Null);
        assert_eq!(text(Some(&json!("notes"))), json!("notes"));
        assert!(
            diff(
                &fields(&[("notes", text(Some(&json!(""))))]),
                &fields(&[("notes", text(None))])
            )
            .is_empty()
        );
    }
}
