//! What to do with one declared secret: pure, from the app's live password credentials, what the
//! sink holds, and the clock.
//!
//! A secret is the set of the app's password credentials whose displayName is its name. The
//! credential whose keyId the sink holds is the *current* one; credentials created before it are
//! earlier *generations* (consumers may still use them, so the newest `keep` are kept); credentials
//! created after it, or any when a readable sink holds none, were never delivered: they are
//! *orphans* of an interrupted run. Nobody can hold an orphan's value, so removing one is safe, but
//! only after a replacement has been delivered when the sink holds nothing: the sink may have been
//! emptied by hand while a consumer still uses the newest credential.

use chrono::{DateTime, Duration, Utc};

use crate::model::SecretSpec;

/// How long a credential the sink names may stay invisible to reads before appreg believes it is
/// gone: Graph shows new password credentials late (GRAPH.md, eventual consistency).
pub const REPLICATION_GRACE: Duration = Duration::minutes(5);

/// A password credential as Graph shows it after creation (never with its value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSecret {
    pub key_id: String,
    pub display_name: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// First three characters of the value, as Graph shows them.
    pub hint: Option<String>,
}

impl LiveSecret {
    /// Reads one entry of an application's `passwordCredentials`.
    pub fn from_graph(value: &serde_json::Value) -> Option<LiveSecret> {
        let time = |key: &str| value.get(key)?.as_str()?.parse::<DateTime<Utc>>().ok();
        Some(LiveSecret {
            key_id: value.get("keyId")?.as_str()?.to_lowercase(),
            display_name: value
                .get("displayName")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            start: time("startDateTime")?,
            end: time("endDateTime")?,
            hint: value
                .get("hint")
                .and_then(|v| v.as_str())
                .map(str::to_string),
        })
    }
}

/// What a sink says about the secret it was given last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holding {
    /// The sink holds the value of this credential, delivered at `delivered`; `earlier` are the
    /// keyIds of the generations it held before (newest first), as far as it remembers.
    Holds {
        key_id: String,
        delivered: Option<DateTime<Utc>>,
        earlier: Vec<String>,
    },
    /// A readable sink that holds no value for this app (missing, empty, or for another app).
    Empty,
    /// A write-only sink (GitHub output, stdout): appreg cannot tell what it holds, so the newest
    /// credential counts as current and orphans cannot be told apart.
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretAction {
    NoOp,
    /// No credential of this name exists.
    Create,
    /// A new credential is needed while others exist.
    Rotate,
    /// Only removals: orphans or generations beyond `keep`.
    Cleanup,
    /// A new credential is needed but the app's cap leaves no room without removing the one a
    /// consumer may be using before its replacement is delivered: nothing is done, the reason
    /// says what takes the slot and what to do.
    Blocked,
}

/// An app's limit on password credentials (apps allowing personal accounts hold 2).
#[derive(Debug, Clone, Copy)]
pub struct Cap<'a> {
    pub max: usize,
    /// keyIds of the app's credentials of undeclared names that this run removes anyway
    /// (pruning): they may make room before the add.
    pub pruned: &'a [String],
}

/// The planned work for one secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretPlan {
    pub action: SecretAction,
    pub reason: String,
    /// The credential the sink holds (or the newest, for write-only sinks).
    pub current: Option<LiveSecret>,
    /// Validity of the credential to add, when one is added.
    pub add: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Removed before the add, only to make room under an app's credential cap; never the current.
    pub remove_first: Vec<String>,
    /// Removed once the new value is delivered (or at once when nothing is added).
    pub remove_after: Vec<String>,
    /// Earlier generations that stay, newest first: what a sink records beside a new value, so
    /// the next run tells them from orphans even when Graph's timestamps tie.
    pub earlier: Vec<String>,
}

/// How many earlier keyIds a sink records (a Key Vault tag value holds 256 characters).
pub const EARLIER_REMEMBERED: usize = 6;

/// Plans one declared secret. `live` holds every password credential of the app; `cap` is the
/// most the app may hold (apps allowing personal accounts: 2), when it has one.
///
/// Whatever the cap, the credential a consumer may be using (the current one; with none known,
/// the newest of the name) is never removed before its replacement is delivered: when room can
/// only be made that way, the plan is [`SecretAction::Blocked`].
pub fn plan_secret(
    spec: &SecretSpec,
    live: &[LiveSecret],
    holding: &Holding,
    cap: Option<Cap<'_>>,
    now: DateTime<Utc>,
) -> SecretPlan {
    let mut mine: Vec<&LiveSecret> = live
        .iter()
        .filter(|c| spec.claims(&c.key_id, c.display_name.as_deref()))
        .collect();
    // Newest first; keyId breaks ties so the order is stable.
    mine.sort_by(|a, b| (b.start, &b.key_id).cmp(&(a.start, &a.key_id)));

    // A credential the manifest claims by keyId was issued outside appreg (import, `adopt:`):
    // someone holds its value, so it is a generation to keep with overlap, never an orphan.
    let adopted = |c: &LiveSecret| spec.key_ids.contains(&c.key_id.to_lowercase());
    let (current, orphans, generations, lagging) = classify(&mine, holding, &adopted, now);
    let rotate_at = spec
        .rotate_before
        .after(now)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let needs_new = match current {
        None => !lagging,
        Some(c) => c.end <= rotate_at,
    };

    let mut plan = SecretPlan {
        action: SecretAction::NoOp,
        reason: String::new(),
        current: current.cloned(),
        add: None,
        remove_first: Vec::new(),
        remove_after: Vec::new(),
        earlier: Vec::new(),
    };
    let keep = spec.keep.max(1) as usize;
    if needs_new {
        let end = spec.lifetime.after(now).unwrap_or(DateTime::<Utc>::MAX_UTC);
        plan.add = Some((now, end));
        plan.action = if mine.is_empty() {
            SecretAction::Create
        } else {
            SecretAction::Rotate
        };
        plan.reason = why_new(current, &mine, holding, now);
        // After the add the new credential is the newest generation: keep `keep - 1` more.
        let mut surplus: Vec<String> = generations
            .iter()
            .skip(keep - 1)
            .map(|c| c.key_id.clone())
            .collect();
        surplus.extend(orphans.iter().map(|c| c.key_id.clone()));
        plan.remove_after = surplus;
        if let Some(cap) = cap {
            let held = live.len() + 1;
            if held > cap.max {
                let needed = held - cap.max;
                // What a consumer may be using stays until its replacement is delivered.
                let protected = current.or(mine.first().copied()).map(|c| c.key_id.as_str());
                // Orphans, then what pruning removes anyway, then generations oldest first; what
                // is removed early is not removed again.
                let mut candidates: Vec<String> = orphans
                    .iter()
                    .map(|c| c.key_id.as_str())
                    .chain(cap.pruned.iter().map(String::as_str))
                    .chain(generations.iter().rev().map(|c| c.key_id.as_str()))
                    .filter(|k| Some(*k) != protected)
                    .map(str::to_string)
                    .collect();
                if candidates.len() < needed {
                    return blocked(plan, live, spec, cap, &candidates);
                }
                candidates.truncate(needed);
                plan.remove_after.retain(|k| !candidates.contains(k));
                plan.remove_first = candidates;
            }
        }
    } else {
        let mut removals: Vec<&LiveSecret> = generations.iter().skip(keep).copied().collect();
        // Orphans are removed at once only when a current credential is known to be delivered
        // (visible, or named by the sink moments ago and not visible yet).
        if current.is_some() || lagging {
            removals.extend(orphans.iter().copied());
        }
        if !removals.is_empty() {
            plan.action = SecretAction::Cleanup;
            let orphaned = removals.iter().filter(|c| orphans.contains(c)).count();
            let beyond = removals.len() - orphaned;
            let mut parts = Vec::new();
            if orphaned > 0 {
                parts.push(format!(
                    "{orphaned} never delivered (orphan{})",
                    plural(orphaned)
                ));
            }
            if beyond > 0 {
                parts.push(format!("{beyond} beyond keep={keep}"));
            }
            plan.reason = format!("removes {}", parts.join(" and "));
            plan.remove_after = removals.iter().map(|c| c.key_id.clone()).collect();
        } else if lagging {
            plan.reason =
                "the credential the sink holds is not visible yet (replication); plan again shortly"
                    .into();
        } else if let Some(c) = current {
            plan.reason = format!("valid until {} ({})", day(c.end), days_left(c.end, now));
        }
    }
    let removed = |c: &&&LiveSecret| {
        plan.remove_first.contains(&c.key_id) || plan.remove_after.contains(&c.key_id)
    };
    plan.earlier = generations
        .iter()
        .filter(|c| !removed(c))
        .map(|c| c.key_id.clone())
        .take(EARLIER_REMEMBERED)
        .collect();
    plan
}

/// The plan of a rotation the cap leaves no room for: it names what holds the other slots.
fn blocked(
    mut plan: SecretPlan,
    live: &[LiveSecret],
    spec: &SecretSpec,
    cap: Cap<'_>,
    removable: &[String],
) -> SecretPlan {
    let others: Vec<String> = live
        .iter()
        .filter(|c| !spec.claims(&c.key_id, c.display_name.as_deref()))
        .filter(|c| !removable.contains(&c.key_id))
        .map(|c| {
            let name = c.display_name.as_deref().unwrap_or("(unnamed)");
            format!("`{}` (keyId {})", super::server_text(name), c.key_id)
        })
        .collect();
    let taken = match others.as_slice() {
        [] => "credentials of this secret take them".to_string(),
        [one] => format!("{one}, which the manifest does not manage here, takes one"),
        many => format!(
            "{}, which the manifest does not manage here, take them",
            many.join(", ")
        ),
    };
    plan.action = SecretAction::Blocked;
    plan.add = None;
    plan.remove_first.clear();
    plan.remove_after.clear();
    plan.reason = format!(
        "a new credential is due ({}), but the app allows personal accounts and may hold {} password credentials: {taken}; room could only be made by removing the credential consumers use before its replacement is delivered, which appreg never does. help: apply with --prune to remove credentials the manifest does not declare, or remove the other credential by hand",
        plan.reason, cap.max
    );
    plan
}

type Classified<'a> = (
    Option<&'a LiveSecret>,
    Vec<&'a LiveSecret>,
    Vec<&'a LiveSecret>,
    bool,
);

/// Splits a secret's credentials (newest first) into the current one, orphans and earlier
/// generations (current included, newest first). The flag says the sink names a credential that
/// reads do not show yet. `adopted` credentials are generations whatever the sink says.
fn classify<'a>(
    mine: &[&'a LiveSecret],
    holding: &Holding,
    adopted: &dyn Fn(&LiveSecret) -> bool,
    now: DateTime<Utc>,
) -> Classified<'a> {
    // Nothing the sink names: every credential is an orphan but the adopted ones.
    let unheld = || {
        let (generations, orphans): (Vec<&LiveSecret>, Vec<&LiveSecret>) =
            mine.iter().partition(|c| adopted(c));
        (None, orphans, generations, false)
    };
    match holding {
        Holding::WriteOnly => (mine.first().copied(), Vec::new(), mine.to_vec(), false),
        Holding::Empty => unheld(),
        Holding::Holds {
            key_id,
            delivered,
            earlier,
        } => {
            let held = mine.iter().find(|c| c.key_id.eq_ignore_ascii_case(key_id));
            // Delivered moments ago but not in the reads: replication lag, not loss.
            let lagging = held.is_none() && delivered.is_some_and(|d| now - d < REPLICATION_GRACE);
            if held.is_none() && !lagging {
                return unheld();
            }
            // Where the sink lists a credential among the earlier generations, newest first.
            let remembered_at = |c: &LiveSecret| {
                earlier
                    .iter()
                    .position(|e| e.eq_ignore_ascii_case(&c.key_id))
            };
            // While the sink's memory of earlier keyIds is not full it names every generation
            // delivered before, so a credential it does not name was never delivered. A full memory
            // may have dropped old ones: then only a credential newer than the held one is known
            // to be an orphan (Graph's timestamps can tie within a run, hence `>=`).
            let remembers_all = earlier.len() < EARLIER_REMEMBERED;
            let (orphans, mut generations): (Vec<&LiveSecret>, Vec<&LiveSecret>) =
                mine.iter().partition(|c| {
                    !c.key_id.eq_ignore_ascii_case(key_id)
                        && remembered_at(c).is_none()
                        && !adopted(c)
                        && (remembers_all || held.is_some_and(|h| c.start >= h.start))
                });
            // Newest first: the held one, then what the sink remembers, then by age.
            generations.sort_by_key(|c| {
                let rank = if c.key_id.eq_ignore_ascii_case(key_id) {
                    0
                } else {
                    remembered_at(c).map_or(usize::MAX, |i| i + 1)
                };
                (rank, std::cmp::Reverse(c.start))
            });
            (held.copied(), orphans, generations, lagging)
        }
    }
}

fn why_new(
    current: Option<&LiveSecret>,
    mine: &[&LiveSecret],
    holding: &Holding,
    now: DateTime<Utc>,
) -> String {
    match current {
        Some(c) if c.end <= now => format!("expired {} ({})", day(c.end), days_left(c.end, now)),
        Some(c) => format!(
            "expires {} ({}), within rotateBefore",
            day(c.end),
            days_left(c.end, now)
        ),
        None if mine.is_empty() => "not in the tenant".into(),
        None => match holding {
            Holding::Holds { .. } => format!(
                "the credential the sink holds no longer exists; {} other{} removed after delivery",
                mine.len(),
                plural(mine.len())
            ),
            _ => format!(
                "the sink holds none of the {} credential{} of this name; they are removed after delivery",
                mine.len(),
                plural(mine.len())
            ),
        },
    }
}

/// Days from `now` to `end` in words: "12 days left", "expired 3 days ago".
pub fn days_left(end: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let days = (end - now).num_days();
    match days {
        d if end <= now => format!("expired {} day{} ago", -d, plural((-d) as usize)),
        d => format!("{d} day{} left", plural(d as usize)),
    }
}

fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Period, SecretSink};

    fn now() -> DateTime<Utc> {
        "2026-11-22T00:00:00Z".parse().unwrap()
    }

    fn spec(keep: u32) -> SecretSpec {
        SecretSpec {
            name: "s".into(),
            lifetime: Period::days(180),
            rotate_before: Period::days(30),
            keep,
            sink: Some(SecretSink::Stdout),
            key_ids: Default::default(),
        }
    }

    /// A credential named `s` created `age` days ago that expires in `left` days.
    fn cred(key: &str, age: i64, left: i64) -> LiveSecret {
        LiveSecret {
            key_id: key.into(),
            display_name: Some("s".into()),
            start: now() - Duration::days(age),
            end: now() + Duration::days(left),
            hint: None,
        }
    }

    /// A credential of another name (added by hand, or undeclared).
    fn other(key: &str, name: &str) -> LiveSecret {
        LiveSecret {
            display_name: Some(name.into()),
            ..cred(key, 30, 150)
        }
    }

    fn holds(key: &str) -> Holding {
        holds_after(key, &[])
    }

    /// A sink holding `key` that remembers delivering `earlier` before it, newest first.
    fn holds_after(key: &str, earlier: &[&str]) -> Holding {
        Holding::Holds {
            key_id: key.into(),
            delivered: Some(now() - Duration::days(400)),
            earlier: earlier.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn cases() {
        struct Case {
            why: &'static str,
            live: Vec<LiveSecret>,
            holding: Holding,
            keep: u32,
            cap: Option<usize>,
            pruned: Vec<String>,
            action: SecretAction,
            first: Vec<&'static str>,
            after: Vec<&'static str>,
        }
        let cases = vec![
            Case {
                why: "nothing in the tenant: create",
                live: vec![],
                holding: Holding::Empty,
                keep: 2,
                cap: None,
                pruned: vec![],
                action: SecretAction::Create,
                first: vec![],
                after: vec![],
            },
            Case {
                why: "the held credential is fresh: nothing to do",
                live: vec![cred("a", 10, 170)],
                holding: holds("a"),
                keep: 2,
                cap: None,
                pruned: vec![],
                action: SecretAction::NoOp,
                first: vec![],
                after: vec![],
            },
            Case {
                why: "within rotateBefore: rotate, keep the old one (keep=2)",
                live: vec![cred("a", 160, 20)],
                holding: holds("a"),
                keep: 2,
                cap: None,
                pruned: vec![],
                action: SecretAction::Rotate,
                first: vec![],
                after: vec![],
            },
            Case {
                why: "rotation beyond keep removes the oldest after delivery",
                live: vec![cred("old", 330, -150), cred("a", 160, 20)],
                holding: holds_after("a", &["old"]),
                keep: 2,
                cap: None,
                pruned: vec![],
                action: SecretAction::Rotate,
                first: vec![],
                after: vec!["old"],
            },
            Case {
                why: "an orphan newer than the held one is removed at once",
                live: vec![cred("a", 10, 170), cred("orphan", 1, 179)],
                holding: holds("a"),
                keep: 2,
                cap: None,
                pruned: vec![],
                action: SecretAction::Cleanup,
                first: vec![],
                after: vec!["orphan"],
            },
            Case {
                why: "an orphan created in the same second as the held one is still an orphan",
                live: vec![cred("a", 10, 170), cred("0-tie", 10, 170)],
                holding: holds("a"),
                keep: 2,
                cap: None,
                pruned: vec![],
                action: SecretAction::Cleanup,
                first: vec![],
                after: vec!["0-tie"],
            },
            Case {
                why: "an emptied sink: a new one, the undelivered ones go after delivery",
                live: vec![cred("a", 10, 170)],
                holding: Holding::Empty,
                keep: 2,
                cap: None,
                pruned: vec![],
                action: SecretAction::Rotate,
                first: vec![],
                after: vec!["a"],
            },
            Case {
                why: "write-only sink: the newest is current and nothing is an orphan",
                live: vec![cred("b", 1, 179), cred("a", 10, 170)],
                holding: Holding::WriteOnly,
                keep: 2,
                cap: None,
                pruned: vec![],
                action: SecretAction::NoOp,
                first: vec![],
                after: vec![],
            },
            Case {
                why: "personal-account cap of 2: the older generation goes before the add",
                live: vec![cred("old", 150, 30), cred("a", 160, 20)],
                holding: holds_after("a", &["old"]),
                keep: 2,
                cap: Some(2),
                pruned: vec![],
                action: SecretAction::Rotate,
                first: vec!["old"],
                after: vec![],
            },
            Case {
                why: "keep=1 removes the previous generation once the new one is delivered",
                live: vec![cred("a", 175, 5)],
                holding: holds("a"),
                keep: 1,
                cap: None,
                pruned: vec![],
                action: SecretAction::Rotate,
                first: vec![],
                after: vec!["a"],
            },
            Case {
                why: "generations beyond keep without rotation are cleaned up",
                live: vec![cred("c", 300, 60), cred("b", 200, 100), cred("a", 10, 170)],
                holding: holds_after("a", &["b", "c"]),
                keep: 2,
                cap: None,
                pruned: vec![],
                action: SecretAction::Cleanup,
                first: vec![],
                after: vec!["c"],
            },
            Case {
                why: "an older credential the sink never named is an orphan (a lost addPassword answer before the sink held anything)",
                live: vec![cred("lost", 2, 178), cred("a", 1, 179)],
                holding: holds("a"),
                keep: 2,
                cap: None,
                pruned: vec![],
                action: SecretAction::Cleanup,
                first: vec![],
                after: vec!["lost"],
            },
            Case {
                why: "a full memory may have dropped old generations: an older unnamed one is kept",
                live: vec![cred("g7", 90, 90), cred("a", 1, 179)],
                holding: holds_after("a", &["g1", "g2", "g3", "g4", "g5", "g6"]),
                keep: 8,
                cap: None,
                pruned: vec![],
                action: SecretAction::NoOp,
                first: vec![],
                after: vec![],
            },
            Case {
                why: "finding 12: a hand-added credential takes the other slot: blocked, the current one is never removed first",
                live: vec![cred("a", 160, 20), other("hand", "manual")],
                holding: holds("a"),
                keep: 2,
                cap: Some(2),
                pruned: vec![],
                action: SecretAction::Blocked,
                first: vec![],
                after: vec![],
            },
            Case {
                why: "keep=1 makes no difference: the current one is still never removed first",
                live: vec![cred("a", 160, 20), other("hand", "manual")],
                holding: holds("a"),
                keep: 1,
                cap: Some(2),
                pruned: vec![],
                action: SecretAction::Blocked,
                first: vec![],
                after: vec![],
            },
            Case {
                why: "pruning removes the undeclared credential anyway: it makes room first",
                live: vec![cred("a", 160, 20), other("hand", "manual")],
                holding: holds("a"),
                keep: 2,
                cap: Some(2),
                pruned: vec!["hand".into()],
                action: SecretAction::Rotate,
                first: vec!["hand"],
                after: vec![],
            },
            Case {
                why: "an orphan makes room before any generation",
                live: vec![cred("orphan", 1, 179), cred("a", 160, 20)],
                holding: holds("a"),
                keep: 2,
                cap: Some(2),
                pruned: vec![],
                action: SecretAction::Rotate,
                first: vec!["orphan"],
                after: vec![],
            },
            Case {
                why: "alone under the cap with keep=1: nothing goes first, the old one after delivery",
                live: vec![cred("a", 175, 5)],
                holding: holds("a"),
                keep: 1,
                cap: Some(2),
                pruned: vec![],
                action: SecretAction::Rotate,
                first: vec![],
                after: vec!["a"],
            },
            Case {
                why: "an emptied sink: the newest of the name may be in use, so it is not removed first",
                live: vec![cred("a", 10, 170), other("hand", "manual")],
                holding: Holding::Empty,
                keep: 2,
                cap: Some(2),
                pruned: vec![],
                action: SecretAction::Blocked,
                first: vec![],
                after: vec![],
            },
            Case {
                why: "an emptied sink with two of the name: the older goes first, the newest after delivery",
                live: vec![cred("new", 1, 179), cred("old", 5, 175)],
                holding: Holding::Empty,
                keep: 2,
                cap: Some(2),
                pruned: vec![],
                action: SecretAction::Rotate,
                first: vec!["old"],
                after: vec!["new"],
            },
            Case {
                why: "a write-only sink under the cap: the previous generation goes first, the newest stays",
                live: vec![cred("b", 100, 20), cred("a", 170, 10)],
                holding: Holding::WriteOnly,
                keep: 2,
                cap: Some(2),
                pruned: vec![],
                action: SecretAction::Rotate,
                first: vec!["a"],
                after: vec![],
            },
            Case {
                why: "three over the cap and only two orphans to spare: blocked, nothing removed",
                live: vec![
                    cred("a", 160, 20),
                    cred("o1", 1, 179),
                    cred("o2", 2, 178),
                    other("hand", "manual"),
                ],
                holding: holds("a"),
                keep: 2,
                cap: Some(2),
                pruned: vec![],
                action: SecretAction::Blocked,
                first: vec![],
                after: vec![],
            },
            Case {
                why: "no cap: a hand-added credential changes nothing",
                live: vec![cred("a", 160, 20), other("hand", "manual")],
                holding: holds("a"),
                keep: 2,
                cap: None,
                pruned: vec![],
                action: SecretAction::Rotate,
                first: vec![],
                after: vec![],
            },
        ];
        for case in cases {
            let cap = case.cap.map(|max| Cap {
                max,
                pruned: &case.pruned,
            });
            let plan = plan_secret(&spec(case.keep), &case.live, &case.holding, cap, now());
            assert_eq!(plan.action, case.action, "{}: {plan:?}", case.why);
            assert_eq!(plan.remove_first, case.first, "{}", case.why);
            assert_eq!(plan.remove_after, case.after, "{}", case.why);
            if let Some(current) = &plan.current {
                assert!(
                    !plan.remove_first.contains(&current.key_id),
                    "{}: the current credential is never removed before the add",
                    case.why
                );
            }
        }
    }

    /// A credential issued outside appreg and claimed by keyId (import, `adopt:`) with a
    /// display name of its own, as the portal leaves it.
    fn vendors(key: &str, age: i64, left: i64) -> LiveSecret {
        LiveSecret {
            display_name: Some("set up by the vendor".into()),
            ..cred(key, age, left)
        }
    }

    #[test]
    fn an_adopted_credential_is_a_generation_kept_with_overlap_never_an_orphan() {
        let adopting = |keep: u32| SecretSpec {
            key_ids: ["vendor".to_string()].into(),
            ..spec(keep)
        };
        // (why, live, holding, keep, action, removed after delivery, earlier recorded)
        #[allow(clippy::type_complexity)]
        let cases: Vec<(
            &str,
            Vec<LiveSecret>,
            Holding,
            u32,
            SecretAction,
            Vec<&str>,
            Vec<&str>,
        )> = vec![
            (
                "a sink chosen for an adopted secret: a new value, the vendor's stays for the overlap",
                vec![vendors("vendor", 300, 400)],
                Holding::Empty,
                2,
                SecretAction::Rotate,
                vec![],
                vec!["vendor"],
            ),
            (
                "an orphan of the name goes, the adopted one stays",
                vec![vendors("vendor", 300, 400), cred("orphan", 1, 179)],
                Holding::Empty,
                2,
                SecretAction::Rotate,
                vec!["orphan"],
                vec!["vendor"],
            ),
            (
                "keep: 1 is the user's word: the adopted one goes once the new value is delivered",
                vec![vendors("vendor", 300, 400)],
                Holding::Empty,
                1,
                SecretAction::Rotate,
                vec!["vendor"],
                vec![],
            ),
            (
                "after delivery the sink's memory does not name it, yet it is no orphan",
                vec![cred("a", 1, 179), vendors("vendor", 300, 400)],
                holds("a"),
                2,
                SecretAction::NoOp,
                vec![],
                vec!["a", "vendor"],
            ),
            (
                "the next rotation by policy retires it beyond keep, after the new value is delivered",
                vec![cred("a", 160, 20), vendors("vendor", 300, 400)],
                holds_after("a", &["vendor"]),
                2,
                SecretAction::Rotate,
                vec!["vendor"],
                vec!["a"],
            ),
            (
                "a sink naming a credential that is gone: the adopted one is still kept",
                vec![vendors("vendor", 300, 400)],
                holds("vanished"),
                2,
                SecretAction::Rotate,
                vec![],
                vec!["vendor"],
            ),
        ];
        for (why, live, holding, keep, action, after, earlier) in cases {
            let plan = plan_secret(&adopting(keep), &live, &holding, None, now());
            assert_eq!(plan.action, action, "{why}: {plan:?}");
            assert_eq!(plan.remove_after, after, "{why}");
            assert!(plan.remove_first.is_empty(), "{why}");
            assert_eq!(plan.earlier, earlier, "{why}");
        }
        // Without the claim the same credential is someone else's: not this secret's at all.
        let plan = plan_secret(
            &spec(2),
            &[vendors("vendor", 300, 400)],
            &Holding::Empty,
            None,
            now(),
        );
        assert_eq!(plan.action, SecretAction::Create);
        assert!(plan.remove_after.is_empty());
    }

    #[test]
    fn a_blocked_rotation_names_the_slot_holder_escaped_and_what_to_do() {
        let live = [cred("a", 160, 20), other("hand", "evil\u{1b}[2J\n::x")];
        let cap = Cap {
            max: 2,
            pruned: &[],
        };
        let plan = plan_secret(&spec(2), &live, &holds("a"), Some(cap), now());
        assert_eq!(plan.action, SecretAction::Blocked);
        assert_eq!(plan.add, None);
        for part in [
            "keyId hand",
            "--prune",
            "by hand",
            "may hold 2",
            "within rotateBefore",
        ] {
            assert!(plan.reason.contains(part), "{part}: {}", plan.reason);
        }
        assert!(!plan.reason.contains('\u{1b}') && !plan.reason.contains('\n'));
    }

    #[test]
    fn with_a_full_memory_a_credential_created_with_the_held_one_is_still_an_orphan() {
        // Graph's timestamps tie within a run; a full memory cannot vouch for it, the time can.
        let holding = holds_after("a", &["g1", "g2", "g3", "g4", "g5", "g6"]);
        let live = [
            cred("a", 10, 170),
            cred("tie", 10, 170),
            cred("older", 20, 160),
        ];
        let plan = plan_secret(&spec(8), &live, &holding, None, now());
        assert_eq!(plan.action, SecretAction::Cleanup, "{plan:?}");
        assert_eq!(plan.remove_after, vec!["tie".to_string()]);
        assert_eq!(plan.earlier, vec!["a".to_string(), "older".to_string()]);
    }

    #[test]
    fn the_reason_tells_a_vanished_credential_from_an_empty_sink() {
        let live = [cred("a", 10, 170), cred("b", 5, 175)];
        let vanished = plan_secret(&spec(2), &live, &holds("gone"), None, now());
        assert_eq!(vanished.action, SecretAction::Rotate);
        assert_eq!(
            vanished.reason,
            "the credential the sink holds no longer exists; 2 others removed after delivery"
        );
        let empty = plan_secret(&spec(2), &live[..1], &Holding::Empty, None, now());
        assert_eq!(
            empty.reason,
            "the sink holds none of the 1 credential of this name; they are removed after delivery"
        );
        assert_eq!(empty.remove_after, vec!["a".to_string()]);
    }

    #[test]
    fn replication_grace_ends_after_five_minutes() {
        let delivered = |ago: Duration| Holding::Holds {
            key_id: "new".into(),
            delivered: Some(now() - ago),
            earlier: vec!["a".into()],
        };
        let live = [cred("a", 170, 100)];
        let within = plan_secret(
            &spec(2),
            &live,
            &delivered(Duration::seconds(299)),
            None,
            now(),
        );
        assert_eq!(within.action, SecretAction::NoOp, "{within:?}");
        let after = plan_secret(
            &spec(2),
            &live,
            &delivered(Duration::seconds(300)),
            None,
            now(),
        );
        assert_eq!(after.action, SecretAction::Rotate, "{after:?}");
    }

    #[test]
    fn a_just_delivered_credential_hidden_by_replication_is_not_replaced() {
        let holding = Holding::Holds {
            key_id: "new".into(),
            delivered: Some(now() - Duration::seconds(20)),
            earlier: vec!["a".into()],
        };
        let plan = plan_secret(&spec(2), &[cred("a", 170, 10)], &holding, None, now());
        assert_eq!(plan.action, SecretAction::NoOp, "{plan:?}");
        assert!(plan.reason.contains("not visible yet"));
    }

    #[test]
    fn an_orphan_goes_while_the_held_credential_is_still_hidden_by_replication() {
        let holding = Holding::Holds {
            key_id: "new".into(),
            delivered: Some(now() - Duration::seconds(20)),
            earlier: vec!["a".into()],
        };
        let live = [cred("a", 170, 10), cred("lost", 0, 180)];
        let plan = plan_secret(&spec(2), &live, &holding, None, now());
        assert_eq!(plan.action, SecretAction::Cleanup, "{plan:?}");
        assert_eq!(plan.remove_after, vec!["lost".to_string()]);
    }

    #[test]
    fn a_remembered_earlier_generation_is_kept_even_when_timestamps_tie() {
        let holding = Holding::Holds {
            key_id: "b".into(),
            delivered: None,
            earlier: vec!["a".into()],
        };
        let live = [cred("a", 10, 170), cred("b", 10, 170), cred("c", 10, 170)];
        let plan = plan_secret(&spec(2), &live, &holding, None, now());
        assert_eq!(plan.remove_after, vec!["c".to_string()], "{plan:?}");
        assert_eq!(plan.earlier, vec!["b".to_string(), "a".to_string()]);
    }

    #[test]
    fn the_reason_names_the_date_and_days_left() {
        let plan = plan_secret(&spec(2), &[cred("a", 168, 12)], &holds("a"), None, now());
        assert_eq!(
            plan.reason,
            "expires 2026-12-04 (12 days left), within rotateBefore"
        );
        let expired = plan_secret(&spec(2), &[cred("a", 183, -3)], &holds("a"), None, now());
        assert_eq!(expired.reason, "expired 2026-11-19 (expired 3 days ago)");
    }

    #[test]
    fn credentials_of_other_names_are_not_this_secrets() {
        let mut other = cred("x", 1, 1);
        other.display_name = Some("other".into());
        let plan = plan_secret(&spec(2), &[other], &Holding::Empty, None, now());
        assert_eq!(plan.action, SecretAction::Create);
        assert!(plan.remove_after.is_empty());
    }

    #[test]
    fn a_cleanup_reason_counts_orphans_and_generations_beyond_keep_apart() {
        let reason = |live: &[LiveSecret], earlier: &[&str]| {
            let plan = plan_secret(&spec(1), live, &holds_after("a", earlier), None, now());
            assert_eq!(plan.action, SecretAction::Cleanup, "{plan:?}");
            plan.reason
        };
        let generations = [cred("a", 10, 170), cred("g1", 40, 140), cred("g2", 80, 100)];
        let orphan = cred("o", 1, 179);
        let both: Vec<LiveSecret> = generations.iter().chain([&orphan]).cloned().collect();
        assert_eq!(
            reason(&both, &["g1", "g2"]),
            "removes 1 never delivered (orphan) and 2 beyond keep=1"
        );
        assert_eq!(
            reason(&generations, &["g1", "g2"]),
            "removes 2 beyond keep=1"
        );
        assert_eq!(
            reason(
                &[cred("a", 10, 170), orphan.clone(), cred("o2", 2, 178)],
                &[]
            ),
            "removes 2 never delivered (orphans)"
        );
    }
}
