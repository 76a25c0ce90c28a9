//! Who owns an app in the tenant, and whether this manifest may manage it.
//!
//! appreg runs with powerful credentials on manifests anyone can propose, so ownership is decided
//! here, in one place, from the exact ownership tags: an app is this set's only when it carries
//! `appreg:managed` and `appreg:set=<this set>` (compared case-sensitively: Graph's tag filter
//! folds case, so `appreg:set=Finance` comes back for set `finance`) and no other set's tag. Any
//! other app the manifest names is taken over only by an explicit `adopt:` naming that app, and the
//! set it comes from when another set manages it. The identity appreg runs as is never managed,
//! whatever the manifest says: managing it would rewrite appreg's own permissions and credentials.
//!
//! What it must never do: read anything but the observation (it is pure), or let a problem pass
//! as a warning: each one stops the whole plan before any write.

use serde_json::Value;
use uuid::Uuid;

use super::address::Address;
use super::observed::str_of;
use super::problem::{Cause, Problem};
use crate::model::{self, DesiredApp};

/// Prefix of the tag naming an app's ownership set.
const SET_TAG_PREFIX: &str = "appreg:set=";

/// Who manages an app, by its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// `appreg:managed` and exactly this set's tag.
    ThisSet,
    /// `appreg:managed` and the tags of other sets (exact names, sorted).
    OtherSets(Vec<String>),
    /// No ownership marker: made by hand, by another tool, or tagged partly.
    Unmanaged,
}

/// An app's tags, exactly as Graph returned them.
fn tags(app: &Value) -> impl Iterator<Item = &str> {
    app.get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// Who manages `app`, as seen from set `set_name`.
pub fn ownership(app: &Value, set_name: &str) -> Ownership {
    if !tags(app).any(|t| t == model::MANAGED_TAG) {
        return Ownership::Unmanaged;
    }
    let mut sets: Vec<String> = tags(app)
        .filter_map(|t| t.strip_prefix(SET_TAG_PREFIX))
        .map(str::to_string)
        .collect();
    sets.sort();
    sets.dedup();
    let ours = sets.iter().any(|s| s == set_name);
    sets.retain(|s| s != set_name);
    match (ours, sets.is_empty()) {
        (true, true) => Ownership::ThisSet,
        (_, false) => Ownership::OtherSets(sets),
        (false, true) => Ownership::Unmanaged,
    }
}

/// Whether `app` is this set's to manage and prune without an `adopt:`.
pub fn is_this_sets(app: &Value, set_name: &str) -> bool {
    ownership(app, set_name) == Ownership::ThisSet
}

/// A takeover the manifest asked for explicitly; shown in the plan as the app's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Adopting {
    FromSet(String),
    Unmanaged,
}

impl Adopting {
    pub fn reason(&self) -> String {
        match self {
            Adopting::FromSet(set) => format!("adopt from set {}", shown(set)),
            Adopting::Unmanaged => "adopt unmanaged app".to_string(),
        }
    }
}

/// The app observation found for one manifest entry.
pub struct Found<'a> {
    /// The app the entry will manage (found by `adopt:` appId, else by uniqueName).
    pub app: Option<&'a Value>,
    /// Another app that holds the entry's uniqueName, when `adopt:` named a different one.
    pub unique_name_holder: Option<&'a Value>,
}

/// Whether the entry `app` may manage what observation found for it: Ok(Some) for an explicit,
/// matching takeover, Ok(None) for an app that is the set's own or does not exist yet, Err with
/// every problem otherwise.
pub fn check(
    app: &DesiredApp,
    found: &Found,
    set_name: &str,
    caller: Option<Uuid>,
) -> Result<Option<Adopting>, Vec<Problem>> {
    let mut problems = Vec::new();
    let here = Address::app(&app.key);
    let problem = |message: String| Problem::new(here.clone(), Cause::Ownership, message);
    if let Some(caller) = caller {
        let named = app.adopt.as_ref().is_some_and(|a| a.app_id == caller);
        let is_caller = |v: &&Value| app_id(v) == Some(caller);
        let live = found
            .app
            .filter(is_caller)
            .or(found.unique_name_holder.filter(is_caller));
        if named || live.is_some() {
            let what = live.map_or_else(|| format!("app {caller}"), describe);
            // Alone: no other advice applies (an `adopt:` would not help).
            return Err(vec![problem(format!(
                "{what} is the identity appreg runs as; appreg never manages its own app \
                 registration (a plan would rewrite its permissions and credentials and could lock \
                 it out); help: remove this entry, or manage that app with another identity"
            ))]);
        }
    }
    if let Some(holder) = found.unique_name_holder {
        problems.push(problem(format!(
            "uniqueName {} belongs to {}, but `adopt:` names appId {}; a uniqueName \
             never moves to another app; help: remove `adopt:`, or give the entry another \
             `uniqueName:`",
            shown(&app.unique_name),
            describe(holder),
            found
                .app
                .and_then(app_id)
                .map_or_else(String::new, |a| a.to_string()),
        )));
    }
    let Some(live) = found.app else {
        if let Some(adopt) = &app.adopt {
            problems.push(problem(format!(
                "`adopt:` names appId {}, but the tenant has no such app; help: check \
                 the Application (client) ID, or remove `adopt:` to create a new app",
                adopt.app_id
            )));
        }
        return if problems.is_empty() {
            Ok(None)
        } else {
            Err(problems)
        };
    };
    let live_id = app_id(live);
    let adopted_id = app.adopt.as_ref().map(|a| a.app_id);
    if let (Some(adopted), Some(live_id)) = (adopted_id, live_id)
        && adopted != live_id
    {
        problems.push(problem(format!(
            "`adopt:` names appId {adopted}, but uniqueName {} is {}; help: remove \
             `adopt:` (the app is found by its uniqueName), or give the entry another \
             `uniqueName:`",
            shown(&app.unique_name),
            describe(live),
        )));
    }
    // The uniqueName upsert would write to whichever app holds the entry's uniqueName, so an
    // adopted app must hold it already, or hold none (appreg then sets it once).
    if let Some(held) = str_of(live, "uniqueName")
        && !held.eq_ignore_ascii_case(&app.unique_name)
    {
        problems.push(problem(format!(
            "{} has the uniqueName {}, which never changes; help: write `uniqueName: {}` \
             in this entry",
            describe(live),
            shown(held),
            escaped(held),
        )));
    }
    let id_text = live_id.map_or_else(|| "<appId>".to_string(), |a| a.to_string());
    let adopts_it = live_id.is_some() && adopted_id == live_id;
    let from_set = app.adopt.as_ref().and_then(|a| a.from_set.as_deref());
    let adopting = match ownership(live, set_name) {
        Ownership::ThisSet => None,
        Ownership::OtherSets(sets) => {
            let named_set = from_set.filter(|s| sets.iter().any(|o| o == s));
            match named_set {
                Some(set) if adopts_it => Some(Adopting::FromSet(set.to_string())),
                _ => {
                    let owners: Vec<String> = sets.iter().map(|s| shown(s)).collect();
                    problems.push(problem(format!(
                        "{} is managed by set {}, not by set {}; appreg takes an app \
                         from another set only when asked; help: to take it over, write \
                         `adopt: {{appId: {id_text}, fromSet: {}}}` in this entry, otherwise \
                         give the entry another `uniqueName:`",
                        describe(live),
                        owners.join(" and "),
                        shown(set_name),
                        escaped(&sets[0]),
                    )));
                    None
                }
            }
        }
        Ownership::Unmanaged => {
            if adopts_it && from_set.is_none() {
                Some(Adopting::Unmanaged)
            } else {
                let why = if adopts_it {
                    "`fromSet:` names a set, but the app carries no appreg ownership tags"
                } else {
                    "appreg takes over an app it did not create only when asked"
                };
                problems.push(problem(format!(
                    "{} is not managed by appreg (no `{}` and `{}` tags); {why}; help: to \
                     take it over, write `adopt: {id_text}` in this entry, otherwise give the \
                     entry another `uniqueName:`",
                    describe(live),
                    model::MANAGED_TAG,
                    escaped(&model::set_tag(set_name)),
                )));
                None
            }
        }
    };
    if problems.is_empty() {
        Ok(adopting)
    } else {
        Err(problems)
    }
}

/// The appId of a Graph application object.
pub fn app_id(app: &Value) -> Option<Uuid> {
    str_of(app, "appId").and_then(|a| Uuid::parse_str(a).ok())
}

/// An app as errors name it: display name (escaped) and appId.
pub fn describe(app: &Value) -> String {
    let name = str_of(app, "displayName").unwrap_or("(no display name)");
    let id = str_of(app, "appId").unwrap_or("?");
    format!("app {} (appId {})", shown(name), escaped(id))
}

/// Longest tenant string quoted in a message, in characters.
const MAX_SHOWN: usize = 120;

/// A string from the tenant as messages quote it: in backticks, hidden characters escaped, cut.
pub fn shown(text: &str) -> String {
    format!("`{}`", escaped(text))
}

/// A string from the tenant made safe to print: control, bidirectional and invisible characters
/// and backticks escaped, cut after [`MAX_SHOWN`] characters.
pub fn escaped(text: &str) -> String {
    let mut out = crate::manifest::diagnostic::escape_hidden(text).replace('`', "\\u{60}");
    if let Some((at, _)) = out.char_indices().nth(MAX_SHOWN) {
        out.truncate(at);
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(tags: &[&str]) -> Value {
        json!({"id": "o1", "appId": "00000000-0000-0000-0000-0000000000a1", "displayName": "Payments", "tags": tags})
    }

    #[test]
    fn ownership_reads_the_exact_tags() {
        let cases: [(&[&str], Ownership, &str); 7] = [
            (
                &["appreg:managed", "appreg:set=finance"],
                Ownership::ThisSet,
                "both markers, this set",
            ),
            (
                &["appreg:managed", "appreg:set=Finance"],
                Ownership::OtherSets(vec!["Finance".into()]),
                "Graph's filter folds case; the tag does not",
            ),
            (
                &["appreg:managed", "appreg:set=payments"],
                Ownership::OtherSets(vec!["payments".into()]),
                "another set",
            ),
            (
                &[
                    "appreg:managed",
                    "appreg:set=finance",
                    "appreg:set=payments",
                ],
                Ownership::OtherSets(vec!["payments".into()]),
                "claimed by two sets: not ours alone",
            ),
            (
                &["appreg:set=finance"],
                Ownership::Unmanaged,
                "a set tag typed by hand is no marker",
            ),
            (
                &["Appreg:Managed", "appreg:set=finance"],
                Ownership::Unmanaged,
                "the managed tag is exact too",
            ),
            (
                &["appreg:managed"],
                Ownership::Unmanaged,
                "managed by no set",
            ),
        ];
        for (tags, expected, why) in cases {
            assert_eq!(ownership(&app(tags), "finance"), expected, "{why}");
        }
    }

    fn entry(adopt: Option<(&str, Option<&str>)>) -> DesiredApp {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let state = crate::manifest::load(&[root.join("examples")], &|_: &str| None)
            .unwrap()
            .state;
        let mut app = state.apps.into_values().next().unwrap();
        app.unique_name = "payments-api".into();
        app.adopt = adopt.map(|(id, set)| model::Adoption {
            app_id: id.parse().unwrap(),
            from_set: set.map(str::to_string),
        });
        app
    }

    #[test]
    fn only_an_exact_adopt_lets_an_app_change_hands() {
        const ID: &str = "00000000-0000-0000-0000-0000000000a1";
        const OTHER: &str = "00000000-0000-0000-0000-0000000000b2";
        let payments = json!({"id": "o1", "appId": ID, "uniqueName": "payments-api", "displayName": "P", "tags": ["appreg:managed", "appreg:set=payments"]});
        let ours = json!({"id": "o1", "appId": ID, "uniqueName": "payments-api", "displayName": "P", "tags": ["appreg:managed", "appreg:set=c"]});
        let hand_made = json!({"id": "o1", "appId": ID, "displayName": "P", "tags": []});
        let renamed = json!({"id": "o1", "appId": ID, "uniqueName": "old-name", "displayName": "P", "tags": []});
        let holder = json!({"id": "o2", "appId": OTHER, "uniqueName": "payments-api", "displayName": "H", "tags": []});
        // A tenant string appreg cannot read as an appId matches no `adopt:`.
        let garbled = json!({"id": "o3", "appId": "not-a-uuid", "uniqueName": "payments-api", "displayName": "G", "tags": ["appreg:managed", "appreg:set=payments"]});
        let garbled_hand_made = json!({"id": "o3", "appId": "not-a-uuid", "uniqueName": "payments-api", "displayName": "G", "tags": []});
        type Case<'a> = (
            Option<(&'a str, Option<&'a str>)>,
            Option<&'a Value>,
            Option<&'a Value>,
            Option<Option<Adopting>>,
            &'a str,
        );
        let cases: [Case; 14] = [
            (
                Some((ID, Some("payments"))),
                Some(&garbled),
                None,
                None,
                "another set's app whose appId is unreadable is not the one adopt names",
            ),
            (
                Some((ID, None)),
                Some(&garbled_hand_made),
                None,
                None,
                "a hand-made app whose appId is unreadable is not the one adopt names",
            ),
            (None, None, None, Some(None), "a new app"),
            (None, Some(&ours), None, Some(None), "the set's own app"),
            (
                None,
                Some(&payments),
                None,
                None,
                "another set's app by uniqueName",
            ),
            (
                Some((ID, None)),
                Some(&payments),
                None,
                None,
                "another set's app needs fromSet",
            ),
            (
                Some((ID, Some("Payments"))),
                Some(&payments),
                None,
                None,
                "fromSet is exact",
            ),
            (
                Some((ID, Some("payments"))),
                Some(&payments),
                None,
                Some(Some(Adopting::FromSet("payments".into()))),
                "explicit takeover",
            ),
            (
                None,
                Some(&hand_made),
                None,
                None,
                "a hand-made app needs adopt",
            ),
            (
                Some((ID, None)),
                Some(&hand_made),
                None,
                Some(Some(Adopting::Unmanaged)),
                "adopting a hand-made app",
            ),
            (
                Some((ID, Some("payments"))),
                Some(&hand_made),
                None,
                None,
                "fromSet names no set of a hand-made app",
            ),
            (
                Some((ID, None)),
                Some(&hand_made),
                Some(&holder),
                None,
                "another app holds the uniqueName",
            ),
            (
                Some((ID, None)),
                Some(&renamed),
                None,
                None,
                "an adopted app keeps its own uniqueName",
            ),
            (
                Some((OTHER, None)),
                None,
                None,
                None,
                "adopt names an app the tenant lacks",
            ),
        ];
        for (adopt, app, holder, expected, why) in cases {
            let found = Found {
                app,
                unique_name_holder: holder,
            };
            let got = check(&entry(adopt), &found, "c", None).ok();
            assert_eq!(got, expected, "{why}");
        }
        let found = Found {
            app: Some(&ours),
            unique_name_holder: None,
        };
        let refused = check(&entry(None), &found, "c", ID.parse().ok()).unwrap_err();
        assert!(
            refused[0].message.contains("identity appreg runs as"),
            "{refused:?}"
        );
    }

    #[test]
    fn escaped_names_cannot_rewrite_the_terminal_or_the_message() {
        let text = escaped("a\u{1b}[2Jb`c\u{202e}d");
        assert!(!text.contains('\u{1b}') && !text.contains('`') && !text.contains('\u{202e}'));
        assert_eq!(escaped(&"x".repeat(500)).chars().count(), MAX_SHOWN + 1);
    }
}
