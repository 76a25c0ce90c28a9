//! Graph's URL space: OData path parsing, dispatch to one module per resource, and the read helpers
//! (visibility under replication lag, `$select`, paging) every resource shares.
//!
//! Dispatch is synchronous over `&mut Store`: the HTTP layer and `$batch` both call [`dispatch`],
//! so a batch item is handled exactly like the same request sent on its own.

mod applications;
mod assignments;
mod credentials;
mod directory;
mod grants;
mod permissions;
mod policies;
mod render;
mod service_principals;
mod validate;

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, OnceLock};

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use uuid::Uuid;

pub use credentials::secret_hash;

use super::caller::Caller;
use super::error::{GraphError, GraphResult};
use super::faults::Faults;
use super::odata::{self, DEFAULT_PAGE_SIZE, FilterSupport, QueryOptions};
use super::store::{Kind, Record, Store, replicated};
use super::wire;

/// Everything a handler may touch.
pub struct Ctx<'a> {
    pub store: &'a mut Store,
    pub now_ms: i64,
    pub lag_ms: i64,
    pub graph_url: &'a str,
    pub faults: &'a Faults,
}

/// One Graph request, already authenticated.
pub struct Call<'a> {
    pub method: &'a Method,
    /// Path after the version segment, e.g. `/applications(appId='...')/owners`.
    pub path: &'a str,
    pub query: QueryOptions,
    pub prefer_create_if_missing: bool,
    pub body: Option<Value>,
    pub caller: &'a Caller,
}

impl Call<'_> {
    /// The JSON object body, or Graph's refusal of a missing/non-object payload.
    pub fn object(&self) -> GraphResult<Map<String, Value>> {
        match &self.body {
            Some(Value::Object(map)) => Ok(map.clone()),
            _ => Err(GraphError::bad_request(
                "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
            )),
        }
    }
}

/// A successful answer.
pub enum Reply {
    Json(StatusCode, Value),
    /// A JSON answer already written out (collection pages, see [`render`]).
    Rendered(StatusCode, Vec<u8>),
    NoContent,
    Text(String),
    /// An answer built after the store's lock is released, from what was taken under it (shared
    /// objects): a long page does not hold up other requests while it is copied out.
    Later(Box<dyn FnOnce() -> GraphResult<Reply> + Send>),
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Json(status, value) => f.debug_tuple("Json").field(status).field(value).finish(),
            Reply::Rendered(status, bytes) => f
                .debug_tuple("Rendered")
                .field(status)
                .field(&String::from_utf8_lossy(bytes))
                .finish(),
            Reply::NoContent => f.write_str("NoContent"),
            Reply::Text(text) => f.debug_tuple("Text").field(text).finish(),
            Reply::Later(_) => f.write_str("Later"),
        }
    }
}

impl Reply {
    /// The answer itself, building a [`Reply::Later`] one (outside the lock).
    pub fn settled(mut self) -> GraphResult<Reply> {
        while let Reply::Later(build) = self {
            self = build()?;
        }
        Ok(self)
    }
}

/// What visibility under replication lag is judged by: the request's time and the lag.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now_ms: i64,
    pub lag_ms: i64,
}

impl Clock {
    pub fn visible(self, written_ms: i64) -> bool {
        replicated(written_ms, self.now_ms, self.lag_ms)
    }
}

impl Reply {
    pub fn ok(body: Value) -> Reply {
        Reply::Json(StatusCode::OK, body)
    }

    pub fn created(body: Value) -> Reply {
        Reply::Json(StatusCode::CREATED, body)
    }
}

/// A path segment: a name, or an alternate-key/parenthesised key attached to the previous name.
#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    Name(String),
    Key { property: String, value: String },
}

fn parse_key(inner: &str) -> Option<(String, String)> {
    let (property, quoted) = inner.split_once('=')?;
    let quoted = quoted.trim();
    let body = quoted.strip_prefix('\'')?.strip_suffix('\'')?;
    if body.replace("''", "").contains('\'') {
        return None;
    }
    Some((property.trim().to_string(), body.replace("''", "'")))
}

/// Graph's schema declares `graph` as the alias of its namespace `microsoft.graph`, so a type cast
/// may use either (`/directory/deletedItems/graph.application`, what the Python SDK sends).
/// <https://learn.microsoft.com/en-us/graph/traverse-the-graph#microsoft-graph-api-metadata>
fn unalias(segment: String) -> String {
    match segment.get(..6) {
        Some(prefix) if prefix.eq_ignore_ascii_case("graph.") => {
            format!("microsoft.graph.{}", &segment[6..])
        }
        _ => segment,
    }
}

/// Splits a path into segments, decoding percent-escapes and `name(key='value')` segments; type
/// casts in the `graph.` alias are read as `microsoft.graph.`.
pub fn parse_path(path: &str) -> GraphResult<Vec<Seg>> {
    let mut segments = Vec::new();
    for raw in path.split('/').filter(|s| !s.is_empty()) {
        let decoded = unalias(
            percent_encoding::percent_decode_str(raw)
                .decode_utf8_lossy()
                .to_string(),
        );
        match decoded.find('(') {
            Some(open) if decoded.ends_with(')') => {
                let inner = &decoded[open + 1..decoded.len() - 1];
                let (property, value) =
                    parse_key(inner).ok_or_else(|| GraphError::unknown_segment(&decoded))?;
                segments.push(Seg::Name(decoded[..open].to_string()));
                segments.push(Seg::Key { property, value });
            }
            _ => segments.push(Seg::Name(decoded)),
        }
    }
    Ok(segments)
}

/// Routes one request to its resource module.
pub fn dispatch(ctx: &mut Ctx, call: &Call) -> GraphResult<Reply> {
    let reply = route(ctx, call);
    ctx.store.settle();
    reply
}

fn route(ctx: &mut Ctx, call: &Call) -> GraphResult<Reply> {
    let segments = parse_path(call.path)?;
    permissions::authorize(ctx, call, &segments)?;
    let name = |i: usize| match segments.get(i) {
        Some(Seg::Name(n)) => Some(n.as_str()),
        _ => None,
    };
    match name(0) {
        Some("applications") => applications::route(ctx, call, &segments[1..]),
        Some("servicePrincipals") => service_principals::route(ctx, call, &segments[1..]),
        Some("oauth2PermissionGrants") => grants::route(ctx, call, &segments[1..]),
        Some("users") => directory::route_principals(ctx, call, Kind::User, &segments[1..]),
        Some("groups") => directory::route_principals(ctx, call, Kind::Group, &segments[1..]),
        Some("directory") if name(1) == Some("deletedItems") => {
            directory::route_deleted(ctx, call, &segments[2..])
        }
        Some("directoryObjects") => directory::route_directory_objects(ctx, call, &segments[1..]),
        Some("organization") => directory::organization(ctx, call, &segments[1..]),
        Some("domains") => directory::domains(ctx, call, &segments[1..]),
        Some("policies") => policies::route(ctx, call, &segments[1..]),
        Some(other) => Err(GraphError::unknown_segment(other)),
        None => Err(GraphError::gateway_bad_request("Invalid request URL.")),
    }
}

/// Answers 405 unless `call` uses one of `allowed`.
pub fn require_method(call: &Call, allowed: &[Method]) -> GraphResult<()> {
    if allowed.contains(call.method) {
        Ok(())
    } else {
        Err(GraphError::method_not_allowed())
    }
}

impl Ctx<'_> {
    pub fn clock(&self) -> Clock {
        Clock {
            now_ms: self.now_ms,
            lag_ms: self.lag_ms,
        }
    }

    pub fn visible(&self, written_ms: i64) -> bool {
        self.clock().visible(written_ms)
    }

    /// Resolves a key segment to a visible object of `kind`: an id, `appId`, `uniqueName` (apps),
    /// or a userPrincipalName (users). Objects still replicating answer 404 like missing ones.
    pub fn resolve(&self, kind: Kind, key: &Seg) -> GraphResult<Uuid> {
        let found = self.lookup(kind, key)?;
        match found {
            Some(id)
                if self
                    .store
                    .get(kind, id)
                    .is_some_and(|r| self.visible(r.created_ms)) =>
            {
                Ok(id)
            }
            _ => Err(GraphError::not_found(&key_text(key))),
        }
    }

    /// Like [`Ctx::resolve`] but ignoring replication lag: writes that are checked by the directory's
    /// uniqueness constraints (upserts) see every object.
    pub fn lookup(&self, kind: Kind, key: &Seg) -> GraphResult<Option<Uuid>> {
        Ok(match key {
            Seg::Name(text) => match Uuid::parse_str(text) {
                Ok(id) => self.store.get(kind, id).map(|_| id),
                Err(_) if kind == Kind::User => self.store.user_by_upn(text),
                Err(_) => return Err(GraphError::invalid_id(text)),
            },
            Seg::Key { property, value } => match (kind, property.as_str()) {
                (Kind::Application, "appId") => self.store.app_by_app_id(value),
                (Kind::ServicePrincipal, "appId") => self.store.sp_by_app_id(value),
                (Kind::Application, "uniqueName") => self.store.app_by_unique_name(value),
                (Kind::User, "userPrincipalName") => self.store.user_by_upn(value),
                (Kind::Application | Kind::ServicePrincipal | Kind::User | Kind::Group, "id") => {
                    Uuid::parse_str(value)
                        .ok()
                        .filter(|id| self.store.get(kind, *id).is_some())
                }
                _ => {
                    return Err(GraphError::gateway_bad_request(format!(
                        "The key property '{property}' is not an alternate key of type '{}'.",
                        kind.type_name()
                    )));
                }
            },
        })
    }

    /// Any visible live directory object by id (owners, principals of assignments).
    pub fn directory_object(&self, id: &str) -> GraphResult<&Record> {
        Uuid::parse_str(id)
            .ok()
            .and_then(|id| self.store.object(&id))
            .filter(|r| self.visible(r.created_ms))
            .ok_or_else(|| GraphError::not_found(id))
    }

    /// An object as reads show it: credentials still replicating hidden, certificate `key` bytes
    /// only on a single-object read that selects keyCredentials (as Graph does).
    pub fn view(&self, record: &Record, single: bool, query: &QueryOptions) -> Map<String, Value> {
        view(self.clock(), record, single, query)
    }
}

/// An object as reads at `clock` show it (see [`Ctx::view`]).
pub fn view(
    clock: Clock,
    record: &Record,
    single: bool,
    query: &QueryOptions,
) -> Map<String, Value> {
    // Clone only what the answer can contain: a 999-item page of `$select=id` must not copy
    // 999 full applications.
    let mut body: Map<String, Value> = match &query.select {
        Some(names) => names
            .iter()
            .filter_map(|n| record.body.get(n).map(|v| (n.clone(), v.clone())))
            .collect(),
        None => record.body.clone(),
    };
    let show_key = single
        && query
            .select
            .as_ref()
            .is_some_and(|s| s.iter().any(|p| p == "keyCredentials"));
    for collection in ["passwordCredentials", "keyCredentials"] {
        if let Some(Value::Array(items)) = body.get_mut(collection) {
            items.retain(|item| credential_visible(item, record, clock));
            if collection == "keyCredentials" && !show_key {
                for item in items.iter_mut() {
                    item["key"] = Value::Null;
                }
            }
        }
    }
    body
}

/// Whether reads show a credential of `record` yet: one added moments ago stays out of sight while
/// the clock's replication lag lasts (GRAPH.md, eventual consistency).
pub(super) fn credential_visible(item: &Value, record: &Record, clock: Clock) -> bool {
    let key_id = item
        .get("keyId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    record
        .credential_added_ms
        .get(key_id)
        .is_none_or(|ms| clock.visible(*ms))
}

fn key_text(key: &Seg) -> String {
    match key {
        Seg::Name(n) => n.clone(),
        Seg::Key { value, .. } => value.clone(),
    }
}

fn known_properties(kind: Kind) -> &'static HashSet<String> {
    static SETS: OnceLock<Vec<(Kind, HashSet<String>)>> = OnceLock::new();
    let sets = SETS.get_or_init(|| {
        let nil = Uuid::nil();
        [
            (Kind::Application, wire::application(nil, nil, "", None, 0)),
            (
                Kind::ServicePrincipal,
                wire::service_principal(nil, "", nil, None),
            ),
            (Kind::User, wire::user(nil, "", "", "", "", 0)),
            (Kind::Group, wire::group(nil, "", "", "", 0)),
        ]
        .into_iter()
        .map(|(kind, template)| {
            let mut names: HashSet<String> = template.keys().cloned().collect();
            names.extend(
                wire::select_only_properties(kind)
                    .iter()
                    .map(|s| s.to_string()),
            );
            (kind, names)
        })
        .collect()
    });
    &sets
        .iter()
        .find(|(k, _)| *k == kind)
        .expect("every kind has a template")
        .1
}

/// Whether `property` exists on `kind` (for `$select` and write validation).
pub fn is_known_property(kind: Kind, property: &str) -> bool {
    known_properties(kind).contains(property)
}

/// Applies `$select` (or a kind's default property set) to an object.
pub fn project(
    kind: Kind,
    object: Map<String, Value>,
    select: Option<&[String]>,
) -> GraphResult<Map<String, Value>> {
    let names: Vec<String> = match select {
        Some(names) => {
            check_select(kind, names)?;
            names.to_vec()
        }
        None if kind == Kind::User => wire::USER_DEFAULT_PROPERTIES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        None => {
            let hidden = wire::select_only_properties(kind);
            return Ok(object
                .into_iter()
                .filter(|(k, _)| !hidden.contains(&k.as_str()))
                .collect());
        }
    };
    let mut out = Map::new();
    for name in names {
        let value = object.get(&name).cloned().unwrap_or(Value::Null);
        out.insert(name, value);
    }
    if let Some(owners) = object.get("owners") {
        out.insert("owners".into(), owners.clone());
    }
    Ok(out)
}

/// Refuses a `$select` naming a property `kind` does not have.
fn check_select(kind: Kind, names: &[String]) -> GraphResult<()> {
    match names
        .iter()
        .find(|name| !is_known_property(kind, name) && *name != "owners")
    {
        Some(name) => Err(GraphError::gateway_bad_request(format!(
            "Could not find a property named '{name}' on type '{}'.",
            kind.type_name()
        ))),
        None => Ok(()),
    }
}

/// `@odata.context` fragment suffix for a `$select`: `(a,b)`.
pub fn select_suffix(query: &QueryOptions) -> String {
    match &query.select {
        Some(names) => format!("({})", names.join(",")),
        None => String::new(),
    }
}

/// Prepends `@odata.context` to an entity.
pub fn entity(ctx: &Ctx, fragment: &str, object: Map<String, Value>) -> Value {
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        Value::String(wire::context(ctx.graph_url, fragment)),
    );
    out.extend(object);
    Value::Object(out)
}

/// What a collection read chooses its page from, in key order.
pub enum Candidates<'a> {
    /// Every item (small collections: an object's links, deleted items).
    All(Vec<(&'a str, &'a Map<String, Value>)>),
    /// Items read lazily from just after a key (directory collections, through the store's
    /// indexes): a page touches what it returns plus one item, whatever the collection's size.
    After(SeekFrom<'a>),
}

pub type ItemIter<'a> = Box<dyn Iterator<Item = (&'a str, &'a Map<String, Value>)> + 'a>;
/// Reads a collection's items from just after a key (from its start when `None`).
pub type SeekFrom<'a> = Box<dyn FnOnce(Option<&str>) -> ItemIter<'a> + 'a>;

impl<'a> Candidates<'a> {
    /// The items after `after` (every item when `None`), in key order.
    fn after(self, after: Option<&str>) -> ItemIter<'a> {
        let items: ItemIter<'a> = match self {
            Candidates::All(items) => Box::new(items.into_iter()),
            Candidates::After(read) => read(after),
        };
        match after {
            // The source's own seek is only a shortcut; the key order decides.
            Some(key) => {
                let key = key.to_string();
                Box::new(items.skip_while(move |(k, _)| *k <= key.as_str()))
            }
            None => items,
        }
    }
}

/// The visible objects of `kind` a collection read may return, in id order: those the store's
/// indexes name when the filter pins an indexed property, else every object of the kind. The
/// filter itself is still evaluated on each by [`page`].
pub fn listed<'a>(ctx: &'a Ctx, kind: Kind, query: &QueryOptions) -> Candidates<'a> {
    let pins = query.filter.as_ref().and_then(odata::pins);
    Candidates::After(Box::new(move |after: Option<&str>| -> ItemIter<'a> {
        // Seek by id only when the key is an id as the collection lists it (lower-case).
        let seek =
            after.and_then(|key| Uuid::parse_str(key).ok().filter(|id| id.to_string() == key));
        Box::new(
            ctx.store
                .candidates_after(kind, pins.as_deref(), seek)
                .filter_map(|id| ctx.store.object(&id))
                .filter(|r| ctx.visible(r.created_ms))
                .map(|r| (r.str("id").unwrap_or_default(), &r.body)),
        )
    }))
}

/// How a collection read is answered.
pub struct Listing<'a> {
    pub support: &'static FilterSupport,
    /// Drives `$select` validation and default properties; `None` for non-directory collections.
    pub kind: Option<Kind>,
    /// `@odata.context` fragment of the collection, without the `$select` suffix.
    pub context: String,
    /// Whether `$expand=owners` is served here.
    pub expand_owners: bool,
    pub candidates: Candidates<'a>,
}

/// Where a `$skiptoken` resumes.
enum Resume {
    /// After the item with this key (pages in key order).
    After(String),
    /// After this many matches (pages in `$orderby` order).
    Offset(usize),
}

fn resume(token: &str) -> GraphResult<Resume> {
    let invalid = || GraphError::gateway_bad_request("Invalid skip token.");
    let decoded = URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(invalid)?;
    match decoded.split_once(':') {
        Some(("o", offset)) => offset.parse().map(Resume::Offset).map_err(|_| invalid()),
        Some(("k", key)) => Ok(Resume::After(key.to_string())),
        _ => Err(invalid()),
    }
}

/// Answers a collection read of items shown as stored: filter, search, order, page, project,
/// written out under the lock (the items are borrowed from the store; pages of these are short).
pub fn page(ctx: &Ctx, call: &Call, listing: Listing) -> GraphResult<Reply> {
    let kind = listing.kind;
    let (items, head) = choose(ctx, call, listing)?;
    let select = page_select(call, kind)?;
    let bodies: Vec<&Map<String, Value>> = items.iter().map(|(_, body)| *body).collect();
    let page = render::PlainPage {
        head: &head,
        items: &bodies,
        kind,
        select: select.as_ref(),
    };
    Ok(Reply::Rendered(StatusCode::OK, written(&page)?))
}

/// A page's `$select`, sorted and without repeats. A name `kind` does not have is refused whether
/// or not the page has items: Graph checks the query before it runs it, so a misspelt property
/// fails against an empty tenant too.
fn page_select(call: &Call, kind: Option<Kind>) -> GraphResult<Option<BTreeSet<String>>> {
    let Some(names) = &call.query.select else {
        return Ok(None);
    };
    if let Some(kind) = kind {
        check_select(kind, names)?;
    }
    Ok(Some(names.iter().cloned().collect()))
}

/// A directory collection's page (`kind`'s objects, `$expand=owners` served): only the shared
/// records are taken under the lock; the page is written to JSON after it is released, straight
/// from them ([`render`]), so a long page neither holds up other requests nor copies its objects.
pub fn page_listed(ctx: &Ctx, call: &Call, kind: Kind, listing: Listing) -> GraphResult<Reply> {
    let (items, head) = choose(ctx, call, listing)?;
    // Listed items come from the store under the same lock: always there.
    let captured: Vec<ListedItem> = items
        .into_iter()
        .filter_map(|(key, _)| listed_item(ctx, call, key))
        .collect();
    let select = page_select(call, Some(kind))?;
    let clock = ctx.clock();
    Ok(Reply::Later(Box::new(move || {
        let page = render::Page {
            head: &head,
            items: &captured,
            clock,
            select: select.as_ref(),
        };
        Ok(Reply::Rendered(StatusCode::OK, written(&page)?))
    })))
}

/// A single directory object's answer, written to JSON after the lock is released, straight from
/// the shared record ([`render::Entity`]): what [`view`] (single), `$expand=owners` and
/// [`project`] show, under `@odata.context` `fragment`.
pub fn entity_reply(
    ctx: &Ctx,
    call: &Call,
    kind: Kind,
    id: Uuid,
    fragment: &str,
    status: StatusCode,
) -> GraphResult<Reply> {
    let record = ctx
        .store
        .shared(&id)
        .ok_or_else(|| GraphError::not_found(&id.to_string()))?;
    if let Some(names) = &call.query.select {
        check_select(kind, names)?;
    }
    let owners = owners_to_expand(ctx, call, &record);
    let select: Option<BTreeSet<String>> = call
        .query
        .select
        .as_ref()
        .map(|names| names.iter().cloned().collect());
    let context = wire::context(ctx.graph_url, fragment);
    let clock = ctx.clock();
    Ok(Reply::Later(Box::new(move || {
        let entity = render::Entity {
            context: &context,
            record: &record,
            clock,
            select: select.as_ref(),
            owners: owners.as_deref(),
        };
        Ok(Reply::Rendered(status, written(&entity)?))
    })))
}

fn written(value: &impl serde::Serialize) -> GraphResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|error| {
        GraphError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            format!("The answer could not be written: {error}"),
        )
    })
}

/// The item-by-item way pages were built, kept to check [`render`] against.
#[cfg(test)]
pub(crate) fn finish_item(
    kind: Option<Kind>,
    select: Option<&[String]>,
    rendered: Map<String, Value>,
) -> GraphResult<Value> {
    Ok(Value::Object(match kind {
        Some(kind) => project(kind, rendered, select)?,
        None => select_plain(rendered, select),
    }))
}

/// The item-by-item way pages were built, kept to check [`render`] against.
#[cfg(test)]
pub(crate) fn with_value(mut head: Map<String, Value>, value: Vec<Value>) -> Value {
    head.insert("value".into(), Value::Array(value));
    Value::Object(head)
}

type Items<'i> = Vec<(&'i str, &'i Map<String, Value>)>;

/// Chooses a collection read's page: its items, and the answer without them (context, count,
/// next link).
fn choose<'a>(
    ctx: &Ctx,
    call: &Call,
    listing: Listing<'a>,
) -> GraphResult<(Items<'a>, Map<String, Value>)> {
    let query = &call.query;
    let advanced = query.advanced();
    if let Some(filter) = &query.filter {
        listing.support.check(filter, advanced)?;
    }
    // Without ConsistencyLevel: eventual, Graph ignores `$count=true` and answers the page alone.
    let count = query.count && query.eventual;
    if query.search.is_some() && !query.eventual {
        return Err(GraphError::unsupported_query(
            "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
        ));
    }
    check_expand(call, listing.expand_owners)?;
    // <https://learn.microsoft.com/en-us/graph/aad-advanced-queries#query-scenarios-that-require-advanced-query-capabilities>
    if !query.expand.is_empty() && (count || query.search.is_some() || query.eventual) {
        return Err(GraphError::unsupported_query(
            "$expand is not supported together with advanced query parameters ($count, $search, ConsistencyLevel: eventual).",
        ));
    }
    if let Some((property, _)) = &query.orderby
        && (property != "displayName" || !(advanced || listing.support.plain_orderby))
    {
        return Err(GraphError::unsupported_query(
            "Sorting not supported for current query.",
        ));
    }
    let resume = query.skiptoken.as_deref().map(resume).transpose()?;
    let wanted = |object: &Map<String, Value>| {
        query
            .filter
            .as_ref()
            .is_none_or(|f| odata::matches(f, object))
            && query.search.as_ref().is_none_or(|(property, term)| {
                object
                    .get(property)
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.to_lowercase().contains(&term.to_lowercase()))
            })
    };
    let mut size = query.top.unwrap_or(DEFAULT_PAGE_SIZE);
    if let Some(cap) = ctx.faults.page_size_cap {
        size = size.min(cap.max(1));
    }
    // The page's items, the next page's token if one follows, and the total when `$count` asks.
    let (items, next, total): (Items, Option<String>, Option<usize>) =
        if query.orderby.is_none() && !count {
            // Key order: read from the cursor until the page is full and one more match shows
            // whether a next page exists; the rest of the collection is never touched.
            let (after, skip) = match &resume {
                Some(Resume::After(key)) => (Some(key.as_str()), 0),
                Some(Resume::Offset(offset)) => (None, *offset),
                None => (None, 0),
            };
            let mut matches = listing
                .candidates
                .after(after)
                .filter(|(_, object)| wanted(object))
                .skip(skip);
            let items: Vec<_> = matches.by_ref().take(size).collect();
            let next = match items.last() {
                Some((last, _)) if items.len() == size && matches.next().is_some() => {
                    Some(format!("k:{last}"))
                }
                _ => None,
            };
            (items, next, None)
        } else {
            let mut matched: Vec<(&str, &Map<String, Value>)> = listing
                .candidates
                .after(None)
                .filter(|(_, object)| wanted(object))
                .collect();
            if let Some((_, descending)) = &query.orderby {
                let name = |o: &Map<String, Value>| {
                    o.get("displayName")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_lowercase()
                };
                matched.sort_by(|a, b| name(a.1).cmp(&name(b.1)).then_with(|| a.0.cmp(b.0)));
                if *descending {
                    matched.reverse();
                }
            }
            let total = matched.len();
            let start = match &resume {
                None => 0,
                Some(Resume::Offset(offset)) => *offset,
                Some(Resume::After(key)) => matched
                    .iter()
                    .position(|(k, _)| *k > key.as_str())
                    .unwrap_or(total),
            };
            let end = (start + size).min(total);
            let next = (end < total).then(|| match &query.orderby {
                Some(_) => format!("o:{end}"),
                None => format!("k:{}", matched[end - 1].0),
            });
            let items = matched.drain(start.min(end)..end).collect();
            (items, next, Some(total))
        };
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(wire::context(
            ctx.graph_url,
            &format!("{}{}", listing.context, select_suffix(query)),
        )),
    );
    if let (true, Some(total)) = (count, total) {
        body.insert("@odata.count".into(), json!(total));
    }
    if let Some(token) = next {
        let mut link = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &query.carried {
            link.append_pair(k, v);
        }
        link.append_pair("$skiptoken", &URL_SAFE_NO_PAD.encode(token));
        let path = call.path.split('?').next().unwrap_or(call.path);
        body.insert(
            "@odata.nextLink".into(),
            Value::String(format!("{}{}?{}", ctx.graph_url, path, link.finish())),
        );
    }
    Ok((items, body))
}

/// The item-by-item way pages were built, kept to check [`render`] against.
#[cfg(test)]
fn select_plain(object: Map<String, Value>, select: Option<&[String]>) -> Map<String, Value> {
    match select {
        None => object,
        Some(names) => names
            .iter()
            .map(|n| (n.clone(), object.get(n).cloned().unwrap_or(Value::Null)))
            .collect(),
    }
}

/// `GET /{collection}/$count`: a plain-text count, an advanced query (needs eventual consistency).
pub fn count(ctx: &Ctx, call: &Call, kind: Kind) -> GraphResult<Reply> {
    require_method(call, &[Method::GET])?;
    if !call.query.eventual {
        return Err(GraphError::bad_request(
            "$count is not currently supported.",
        ));
    }
    let support = match kind {
        Kind::Application => &applications::FILTERS,
        _ => &service_principals::FILTERS,
    };
    if let Some(filter) = &call.query.filter {
        support.check(filter, true)?;
    }
    let total = listed(ctx, kind, &call.query)
        .after(None)
        .filter(|(_, body)| {
            call.query
                .filter
                .as_ref()
                .is_none_or(|f| odata::matches(f, body))
        })
        .count();
    Ok(Reply::Text(total.to_string()))
}

/// Refuses `$expand` values other than `owners` (where served).
pub fn check_expand(call: &Call, owners_allowed: bool) -> GraphResult<()> {
    for item in &call.query.expand {
        let name = item.split('(').next().unwrap_or_default();
        if !(owners_allowed && name == "owners") {
            return Err(GraphError::unsupported_query(format!(
                "Expanding '{name}' is not supported for this request."
            )));
        }
    }
    Ok(())
}

/// The owners of `record` to expand later, when `$expand=owners` was asked for.
pub fn owners_to_expand(ctx: &Ctx, call: &Call, record: &Record) -> Option<Vec<Arc<Record>>> {
    call.query
        .expand
        .iter()
        .any(|e| e.starts_with("owners"))
        .then(|| {
            record
                .owners
                .iter()
                .filter_map(|id| ctx.store.shared(id))
                .collect()
        })
}

/// One object of a directory collection page, rendered after the lock (see [`page_later`]):
/// the object and, with `$expand=owners`, its owners.
pub fn listed_item(ctx: &Ctx, call: &Call, key: &str) -> Option<ListedItem> {
    let record = ctx.store.shared(&Uuid::parse_str(key).ok()?)?;
    let owners = owners_to_expand(ctx, call, &record);
    Some((record, owners))
}

/// An object and the owners to expand on it.
pub type ListedItem = (Arc<Record>, Option<Vec<Arc<Record>>>);

/// A directory object inside a polymorphic collection: `@odata.type` plus its default properties.
pub fn directory_object_view(ctx: &Ctx, record: &Record) -> Map<String, Value> {
    directory_object_view_at(ctx.clock(), record)
}

/// [`directory_object_view`] at `clock`.
pub fn directory_object_view_at(clock: Clock, record: &Record) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert(
        "@odata.type".into(),
        Value::String(wire::odata_type(record.kind)),
    );
    let view = view(clock, record, false, &QueryOptions::default());
    out.extend(project(record.kind, view, None).unwrap_or_default());
    out
}

/// Extracts the object id from an `@odata.id` reference URL (its last GUID-shaped segment).
pub fn reference_id(body: &Map<String, Value>) -> GraphResult<String> {
    let url = body
        .get("@odata.id")
        .and_then(Value::as_str)
        .ok_or_else(|| GraphError::bad_request("Missing @odata.id in the request body."))?;
    let last = url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    let last = last
        .trim_start_matches("directoryObjects(")
        .trim_matches(|c| c == '\'' || c == ')');
    Uuid::parse_str(last)
        .map(|id| id.to_string())
        .map_err(|_| GraphError::bad_request(format!("Invalid object identifier '{last}'.")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternate_keys_parse_with_escaped_quotes() {
        let segs = parse_path("/applications(uniqueName='o''brien-app')/owners").unwrap();
        assert_eq!(
            segs,
            vec![
                Seg::Name("applications".into()),
                Seg::Key {
                    property: "uniqueName".into(),
                    value: "o'brien-app".into()
                },
                Seg::Name("owners".into()),
            ]
        );
    }

    #[test]
    fn percent_encoded_keys_decode() {
        let segs =
            parse_path("/servicePrincipals(appId=%2700000003-0000-0000-c000-000000000000%27)")
                .unwrap();
        assert_eq!(
            segs[1],
            Seg::Key {
                property: "appId".into(),
                value: "00000003-0000-0000-c000-000000000000".into()
            }
        );
    }
}
