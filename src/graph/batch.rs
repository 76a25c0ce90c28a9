//! JSON batching: many requests in `$batch` envelopes of at most 20, envelopes concurrent up to
//! the client's in-flight bound, answers matched back by id (Graph returns them in any order),
//! `dependsOn` honoured, and each item retried on its own.
//!
//! Scheduling: requests linked by `depends_on` stay in one envelope when they fit (Graph resolves
//! the dependency server-side); a dependency group larger than 20 is cut into consecutive
//! envelopes sent one after another, a cut dependency being enforced by the client (a request
//! whose dependency failed is not sent and gets [`GraphError::FailedDependency`]). Independent
//! groups are packed together.
//!
//! It never resends a whole envelope because one item failed, and never resends a non-idempotent
//! item whose envelope got no answer.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::join_all;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value, json};

use super::client::{GraphClient, Prepared, Verdict, classify, relative_url};
use super::error::GraphError;
use super::request::{Method, Request, Response};
use super::stats::{bump, resource_units};

/// Graph's limit of requests per `$batch`.
pub const MAX_BATCH: usize = 20;

type Outcome = Result<Response, GraphError>;

impl GraphClient {
    /// Send `requests` through `$batch` and return one result per request, in input order.
    ///
    /// [`Request::depends_on`] names earlier indices of the same call. Items answered 429, 503 or
    /// 504 (idempotent only), or with replication lag when marked [`Request::after_own_write`],
    /// are sent again in a later envelope after the longest `Retry-After` among them; the rest of
    /// the envelope is not repeated. If an envelope gets no answer, its non-idempotent items end
    /// in [`GraphError::OutcomeUnknown`] and its idempotent ones are retried.
    pub async fn batch(&self, requests: Vec<Request>) -> Vec<Outcome> {
        self.batch_of(&requests.iter().collect::<Vec<_>>()).await
    }

    /// [`GraphClient::batch`] of borrowed requests, for a caller that keeps them (to send some
    /// again) and would otherwise copy every body.
    pub async fn batch_of(&self, requests: &[&Request]) -> Vec<Outcome> {
        let n = requests.len();
        let mut results: Vec<Option<Outcome>> = (0..n).map(|_| None).collect();
        let mut items: Vec<Option<Prepared>> = Vec::with_capacity(n);
        let deps: Vec<Vec<usize>> = requests.iter().map(|r| r.depends_on.clone()).collect();
        for (i, request) in requests.iter().enumerate() {
            if request.depends_on.iter().any(|&d| d >= i) {
                results[i] = Some(Err(GraphError::InvalidRequest {
                    path: request.path.clone(),
                    reason: format!("request {i} may depend only on earlier requests of the batch"),
                }));
                items.push(None);
                continue;
            }
            match self.prepare(request) {
                Ok(p) => items.push(Some(p)),
                Err(e) => {
                    results[i] = Some(Err(e));
                    items.push(None);
                }
            }
        }
        let include: Vec<bool> = items.iter().map(Option::is_some).collect();
        for level in plan(&deps, &include) {
            let settled: Vec<Option<bool>> = results
                .iter()
                .map(|r| r.as_ref().map(Result::is_ok))
                .collect();
            let outcomes = join_all(
                level
                    .iter()
                    .map(|chunk| self.run_chunk(chunk, &items, &deps, &settled)),
            )
            .await;
            for (i, outcome) in outcomes.into_iter().flatten() {
                results[i] = Some(outcome);
            }
        }
        results
            .into_iter()
            .map(|r| r.expect("the plan covers every request"))
            .collect()
    }

    /// Send one envelope's worth of items, retrying items until each has a final outcome.
    async fn run_chunk(
        &self,
        chunk: &[usize],
        items: &[Option<Prepared>],
        deps: &[Vec<usize>],
        settled: &[Option<bool>],
    ) -> Vec<(usize, Outcome)> {
        let item = |i: usize| items[i].as_ref().expect("planned items are prepared");
        let mut done: HashMap<usize, Outcome> = HashMap::new();
        let mut pending: Vec<usize> = chunk.to_vec();
        let mut round: u32 = 0;
        loop {
            // Items whose dependency has failed for good are not sent.
            let mut sendable = Vec::new();
            for &i in &pending {
                let failed = deps[i].iter().any(|&d| {
                    settled[d] == Some(false) || done.get(&d).is_some_and(Result::is_err)
                });
                if failed {
                    let p = item(i);
                    done.insert(
                        i,
                        Err(GraphError::FailedDependency {
                            method: p.method,
                            path: p.path.clone(),
                        }),
                    );
                } else {
                    sendable.push(i);
                }
            }
            pending = sendable;
            if pending.is_empty() {
                break;
            }
            round += 1;
            let envelope = self.envelope(&pending, items, deps);
            for &i in &pending {
                self.inner.stats.request(item(i).method);
            }
            let mut retrying: Vec<(usize, GraphError)> = Vec::new();
            let mut after: Option<Duration> = None;
            match self.execute(&envelope).await {
                Err(GraphError::OutcomeUnknown { reason, .. }) => {
                    for &i in &pending {
                        let p = item(i);
                        if p.idempotent {
                            retrying.push((
                                i,
                                GraphError::Transport {
                                    method: p.method,
                                    path: p.path.clone(),
                                    reason: reason.clone(),
                                },
                            ));
                        } else {
                            done.insert(
                                i,
                                Err(GraphError::OutcomeUnknown {
                                    method: p.method,
                                    path: p.path.clone(),
                                    reason: reason.clone(),
                                }),
                            );
                        }
                    }
                }
                Err(e) => {
                    for &i in &pending {
                        done.insert(i, Err(e.clone()));
                    }
                }
                Ok(response) => {
                    let mut answers = answers_by_id(response.body);
                    for &i in &pending {
                        let p = item(i);
                        let Some((status, headers, body)) = answers.remove(&i.to_string()) else {
                            let reason =
                                "the $batch answer has no response for this request".to_string();
                            if p.idempotent {
                                retrying.push((
                                    i,
                                    GraphError::Transport {
                                        method: p.method,
                                        path: p.path.clone(),
                                        reason,
                                    },
                                ));
                            } else {
                                done.insert(
                                    i,
                                    Err(GraphError::OutcomeUnknown {
                                        method: p.method,
                                        path: p.path.clone(),
                                        reason,
                                    }),
                                );
                            }
                            continue;
                        };
                        if status == 429 {
                            bump(&self.inner.stats.throttled, 1);
                        } else {
                            let header = headers
                                .get("x-ms-resource-unit")
                                .and_then(|v| v.to_str().ok());
                            bump(
                                &self.inner.stats.resource_units,
                                resource_units(header, p.method, &p.path, &p.query),
                            );
                        }
                        if status == 424 {
                            // Failed dependency: run again with its dependency if that is retried.
                            let error = GraphError::FailedDependency {
                                method: p.method,
                                path: p.path.clone(),
                            };
                            if deps[i].iter().any(|d| retrying.iter().any(|(r, _)| r == d)) {
                                retrying.push((i, error));
                            } else {
                                done.insert(i, Err(error));
                            }
                            continue;
                        }
                        match classify(
                            p.method,
                            &p.path,
                            p.just_written,
                            p.sensitive,
                            status,
                            &headers,
                            body,
                        ) {
                            Verdict::Done(r) => {
                                done.insert(i, Ok(r));
                            }
                            Verdict::Fail(e) => {
                                done.insert(i, Err(e));
                            }
                            Verdict::Retry { after: a, error } => {
                                after = match (after, a) {
                                    (Some(x), Some(y)) => Some(x.max(y)),
                                    (x, y) => x.or(y),
                                };
                                retrying.push((i, error));
                            }
                        }
                    }
                }
            }
            if retrying.is_empty() {
                break;
            }
            let representative = retrying[0].1.clone();
            if let Err(GraphError::GaveUp { reason, .. }) =
                self.wait_to_retry(round, after, representative).await
            {
                for (i, error) in retrying {
                    done.insert(i, Err(GraphError::gave_up(reason.clone(), error)));
                }
                break;
            }
            bump(&self.inner.stats.retries, retrying.len() as u64);
            pending = retrying.into_iter().map(|(i, _)| i).collect();
            pending.sort_unstable();
        }
        done.into_iter().collect()
    }

    /// The `POST /$batch` for `pending`.
    fn envelope(
        &self,
        pending: &[usize],
        items: &[Option<Prepared>],
        deps: &[Vec<usize>],
    ) -> Prepared {
        let item = |i: usize| items[i].as_ref().expect("planned items are prepared");
        let requests: Vec<Value> = pending
            .iter()
            .map(|&i| {
                let p = item(i);
                let mut headers: Map<String, Value> = p
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                let mut entry = json!({
                    "id": i.to_string(),
                    "method": p.method.as_str(),
                    "url": relative_url(&p.path, &p.query),
                });
                if let Some(body) = &p.body {
                    headers.insert("Content-Type".into(), "application/json".into());
                    entry["body"] = body.clone();
                }
                if !headers.is_empty() {
                    entry["headers"] = Value::Object(headers);
                }
                let depends: Vec<Value> = deps[i]
                    .iter()
                    .filter(|d| pending.contains(d))
                    .map(|d| Value::String(d.to_string()))
                    .collect();
                if !depends.is_empty() {
                    entry["dependsOn"] = Value::Array(depends);
                }
                entry
            })
            .collect();
        // The envelope's body is set after `prepare`, which would copy it.
        let mut envelope = self
            .prepare(&Request::new(Method::Post, "/$batch", None))
            .expect("the $batch path is valid");
        envelope.body = Some(json!({ "requests": requests }));
        envelope.idempotent = pending.iter().all(|&i| item(i).idempotent);
        envelope.sensitive = pending.iter().any(|&i| item(i).sensitive);
        envelope.counted = false;
        envelope
    }
}

/// `responses` of a `$batch` answer by id.
fn answers_by_id(body: Option<Value>) -> HashMap<String, (u16, HeaderMap, Option<Value>)> {
    let mut out = HashMap::new();
    let Some(Value::Array(responses)) = body.map(|mut b| b["responses"].take()) else {
        return out;
    };
    for mut r in responses {
        let id = match &r["id"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => continue,
        };
        let Some(status) = r["status"].as_u64().and_then(|s| u16::try_from(s).ok()) else {
            continue;
        };
        let mut headers = HeaderMap::new();
        if let Value::Object(map) = &r["headers"] {
            for (k, v) in map {
                if let (Ok(name), Some(Ok(value))) = (
                    HeaderName::from_bytes(k.as_bytes()),
                    v.as_str().map(HeaderValue::from_str),
                ) {
                    headers.insert(name, value);
                }
            }
        }
        let body = match r["body"].take() {
            Value::Null => None,
            b => Some(b),
        };
        out.insert(id, (status, headers, body));
    }
    out
}

/// Group requests into envelopes and envelopes into levels: every envelope of a level can be
/// sent at once; an envelope holding the continuation of a dependency group larger than
/// [`MAX_BATCH`] comes a level after the envelope holding its dependencies.
pub(crate) fn plan(deps: &[Vec<usize>], include: &[bool]) -> Vec<Vec<Vec<usize>>> {
    let n = deps.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for i in (0..n).filter(|&i| include[i]) {
        for &d in deps[i].iter().filter(|&&d| d < n && include[d]) {
            let (a, b) = (find(&mut parent, i), find(&mut parent, d));
            parent[a.max(b)] = a.min(b);
        }
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of: HashMap<usize, usize> = HashMap::new();
    for i in (0..n).filter(|&i| include[i]) {
        let root = find(&mut parent, i);
        let g = *group_of.entry(root).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    // Pack whole groups into envelopes; cut groups that do not fit in one.
    let mut chunks: Vec<Vec<usize>> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for group in groups {
        if group.len() > MAX_BATCH {
            chunks.extend(group.chunks(MAX_BATCH).map(<[usize]>::to_vec));
        } else {
            if open.len() + group.len() > MAX_BATCH {
                chunks.push(std::mem::take(&mut open));
            }
            open.extend(group);
        }
    }
    if !open.is_empty() {
        chunks.push(open);
    }
    // Level of an envelope: one more than the envelopes holding its members' dependencies.
    let mut chunk_of = vec![usize::MAX; n];
    for (c, chunk) in chunks.iter().enumerate() {
        for &i in chunk {
            chunk_of[i] = c;
        }
    }
    let mut level = vec![0usize; chunks.len()];
    for c in 0..chunks.len() {
        for &i in &chunks[c] {
            for &d in deps[i].iter().filter(|&&d| d < n && include[d]) {
                let dc = chunk_of[d];
                if dc != c {
                    level[c] = level[c].max(level[dc] + 1);
                }
            }
        }
    }
    let levels = level.iter().copied().max().map_or(0, |m| m + 1);
    let mut out: Vec<Vec<Vec<usize>>> = vec![Vec::new(); levels];
    for (c, chunk) in chunks.into_iter().enumerate() {
        out[level[c]].push(chunk);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_deps(n: usize) -> Vec<Vec<usize>> {
        vec![Vec::new(); n]
    }

    #[test]
    fn independent_requests_fill_envelopes_of_twenty() {
        let levels = plan(&no_deps(45), &[true; 45]);
        assert_eq!(levels.len(), 1);
        let sizes: Vec<usize> = levels[0].iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![20, 20, 5]);
    }

    #[test]
    fn dependency_groups_stay_together() {
        // 19 independent requests, then a pair: the pair does not fit in the first envelope.
        let mut deps = no_deps(21);
        deps[20] = vec![19];
        let levels = plan(&deps, &[true; 21]);
        assert_eq!(levels.len(), 1);
        assert_eq!(levels[0][0].len(), 19);
        assert_eq!(levels[0][1], vec![19, 20]);
    }

    #[test]
    fn oversized_groups_are_cut_and_sequenced() {
        // A chain of 25: the last 5 wait for the first 20.
        let mut deps = no_deps(25);
        for (i, d) in deps.iter_mut().enumerate().skip(1) {
            *d = vec![i - 1];
        }
        let levels = plan(&deps, &[true; 25]);
        assert_eq!(levels.len(), 2);
        assert_eq!(levels[0][0].len(), 20);
        assert_eq!(levels[1][0], (20..25).collect::<Vec<_>>());
    }

    #[test]
    fn excluded_requests_are_not_planned() {
        let levels = plan(&no_deps(3), &[true, false, true]);
        assert_eq!(levels, vec![vec![vec![0, 2]]]);
    }

    #[test]
    fn answers_are_matched_by_id_in_any_order() {
        let body = json!({"responses": [
            {"id": "2", "status": 429, "headers": {"Retry-After": "1"}},
            {"id": "0", "status": 200, "body": {"id": "a"}},
            {"id": "1", "status": 204}
        ]});
        let answers = answers_by_id(Some(body));
        assert_eq!(answers["0"].0, 200);
        assert_eq!(answers["0"].2, Some(json!({"id": "a"})));
        assert_eq!(answers["1"].2, None);
        assert_eq!(answers["2"].1.get("retry-after").unwrap(), "1");
    }
}
