//! The HTTP face of the sandbox: axum routes, the per-request pipeline (bearer check, throttling
//! and server-error faults, dispatch, logging), the background saver, transport faults (latency, slow
//! answers, connection resets) applied to whole round trips, and the freeze fault. The Key Vault
//! listener shares the state, the transport faults and the freeze.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use uuid::Uuid;

use super::auth::{self, TokenRequest};
use super::batch;
use super::discovery;
use super::error::GraphError;
use super::faults::Transport;
use super::freeze::Admission;
use super::log::{EntryKind, LogEntry};
use super::origin;
use super::pipeline::{
    Input, Outcome, Payload, Shared, error_outcome, execute, header_text, lock, now_ms,
};

const JSON_CONTENT_TYPE: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

fn into_response(outcome: Outcome, request_id: &str, client_request_id: &str) -> Response {
    let mut builder = Response::builder()
        .status(outcome.status)
        .header("request-id", request_id)
        .header("client-request-id", client_request_id)
        .header("OData-Version", "4.0")
        .header(header::CACHE_CONTROL, "no-cache");
    for (name, value) in &outcome.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = match outcome.payload {
        Payload::None => Body::empty(),
        Payload::Json(value) => {
            builder = builder.header(header::CONTENT_TYPE, JSON_CONTENT_TYPE);
            Body::from(value.to_string())
        }
        Payload::Rendered(bytes) => {
            builder = builder.header(header::CONTENT_TYPE, JSON_CONTENT_TYPE);
            Body::from(bytes)
        }
        Payload::Text(text) => {
            builder = builder.header(header::CONTENT_TYPE, "text/plain");
            Body::from(text)
        }
    };
    builder
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn log_entry(
    kind: EntryKind,
    method: &str,
    path: String,
    status: StatusCode,
    started: Instant,
    client_id: Option<String>,
) -> LogEntry {
    LogEntry {
        seq: 0,
        timestamp: chrono::Utc::now(),
        kind,
        method: method.to_string(),
        path,
        status: status.as_u16(),
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        batch_seq: None,
        batch_item_id: None,
        client_id,
        host: None,
    }
}

async fn graph(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let request_id = Uuid::new_v4().to_string();
    let client_request_id = header_text(&headers, "client-request-id")
        .map(str::to_string)
        .unwrap_or_else(|| request_id.clone());
    let path = uri
        .path()
        .strip_prefix("/v1.0")
        .unwrap_or(uri.path())
        .to_string();
    let query = uri.query().unwrap_or_default().to_string();
    let logged_path = uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let is_batch = path == "/$batch" || path == "/%24batch";
    let listener = shared.graph_url.trim_end_matches("/v1.0");
    let graph_url = format!("{}/v1.0", origin::base(&headers, listener));
    let caller = match auth::authenticate(
        &shared.signer,
        &shared.tenant_id,
        header_text(&headers, "authorization"),
        now_ms(),
    ) {
        Ok(caller) => caller,
        Err(error) => {
            let outcome = error_outcome(&error, &request_id, &client_request_id);
            let kind = if is_batch {
                EntryKind::Batch
            } else {
                EntryKind::Graph
            };
            lock(&shared.log).record(log_entry(
                kind,
                method.as_str(),
                logged_path,
                outcome.status,
                started,
                None,
            ));
            return into_response(outcome, &request_id, &client_request_id);
        }
    };
    let outcome = if is_batch && method == Method::POST {
        let batch_seq = lock(&shared.log).reserve();
        let outcome = batch::handle(
            &shared,
            &caller,
            &graph_url,
            &body,
            batch_seq,
            &request_id,
            &client_request_id,
        );
        let mut entry = log_entry(
            EntryKind::Batch,
            "POST",
            logged_path,
            outcome.status,
            started,
            Some(caller.app_id.clone()),
        );
        entry.seq = batch_seq;
        lock(&shared.log).record(entry);
        outcome
    } else {
        let input = Input {
            method: &method,
            path: &path,
            query: &query,
            headers: &headers,
            body: &body,
            request_id: &request_id,
            client_request_id: &client_request_id,
            graph_url: &graph_url,
        };
        let outcome = execute(&shared, &caller, &input);
        lock(&shared.log).record(log_entry(
            EntryKind::Graph,
            method.as_str(),
            logged_path,
            outcome.status,
            started,
            Some(caller.app_id.clone()),
        ));
        outcome
    };
    tracing::debug!(method = %method, path = %path, status = outcome.status.as_u16(), "graph request");
    into_response(outcome, &request_id, &client_request_id)
}

async fn token(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let request = TokenRequest {
        tenant: &tenant,
        basic: header_text(&headers, "authorization").and_then(auth::basic_credentials),
        endpoint: format!("{}/{tenant}/oauth2/v2.0/token", shared.authority_url),
        key_vault_url: shared.key_vault_url.clone(),
        form,
    };
    let lag_ms = lock(&shared.faults).faults.replication_lag.as_millis() as i64;
    let lifetime = shared.token_lifetime.as_secs().max(1) as i64;
    let result = auth::issue_token(
        &lock(&shared.store),
        &shared.signer,
        lifetime,
        now_ms(),
        lag_ms,
        &request,
    );
    let client_id = request
        .form
        .get("client_id")
        .cloned()
        .or(request.basic.as_ref().map(|b| b.0.clone()));
    let (status, body) = match result {
        Ok(body) => (StatusCode::OK, body),
        Err(error) => (error.status, error.body()),
    };
    let path = format!("/{tenant}/oauth2/v2.0/token");
    lock(&shared.log).record(log_entry(
        EntryKind::Token,
        "POST",
        path,
        status,
        started,
        client_id,
    ));
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    response
}

/// The `/_sandbox/*` control endpoints answer only the sandbox's own admin app: its Graph token
/// is the one credential a test or tool holding the admin secret already has, and nobody else on
/// the machine should read what the tenant was asked or wipe the evidence.
fn control_refusal(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let request_id = Uuid::new_v4().to_string();
    let refuse = |error: GraphError| {
        let outcome = error_outcome(&error, &request_id, &request_id);
        into_response(outcome, &request_id, &request_id)
    };
    let caller = match auth::authenticate(
        &shared.signer,
        &shared.tenant_id,
        header_text(headers, "authorization"),
        now_ms(),
    ) {
        Ok(caller) => caller,
        Err(error) => return Some(refuse(error)),
    };
    (caller.app_id != lock(&shared.store).admin.app_id.to_string()).then(|| {
        refuse(GraphError::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "The sandbox's control endpoints answer only its admin application.",
        ))
    })
}

async fn read_log(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(refused) = control_refusal(&shared, &headers) {
        return refused;
    }
    axum::Json(lock(&shared.log).clone()).into_response()
}

async fn clear_log(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(refused) = control_refusal(&shared, &headers) {
        return refused;
    }
    lock(&shared.log).clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn unknown_version(uri: Uri) -> Response {
    let request_id = Uuid::new_v4().to_string();
    let segment = uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let error = GraphError::new(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        format!("Invalid version: {segment}"),
    );
    into_response(
        error_outcome(&error, &request_id, &request_id),
        &request_id,
        &request_id,
    )
}

/// Transport faults on every round trip except the sandbox's own control endpoints.
pub async fn transport(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path().starts_with("/_sandbox") {
        return next.run(request).await;
    }
    let decision = lock(&shared.faults).transport(request.uri().path());
    match decision {
        Transport::Answer { delay, late } => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let Some(late) = late else {
                return next.run(request).await;
            };
            lock(&shared.log).transport_fault(false, true);
            // Processed to the end even if the client stops waiting (its dropped connection
            // would cancel the handler): a timed-out write may have happened, as with Graph.
            let response = tokio::spawn(next.run(request))
                .await
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
            tokio::time::sleep(late).await;
            response
        }
        Transport::Reset => {
            let connection = request
                .extensions()
                .get::<ConnectInfo<ConnectionHandle>>()
                .map(|c| c.0.clone());
            // The request is processed (a write happens) and its answer is lost: the ambiguous
            // outcome clients must survive.
            let response = next.run(request).await;
            if let Some(connection) = connection {
                connection.kill();
            }
            lock(&shared.log).transport_fault(true, false);
            response
        }
    }
}

/// The freeze fault, outermost on both listeners so that every request is numbered as it arrives
/// (the sandbox's control endpoints excepted: a test reading the log must not move the count).
pub async fn freeze(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/_sandbox") {
        return next.run(request).await;
    }
    let admission = {
        let state = lock(&shared.faults);
        shared.freeze.admit(state.faults.freeze_after)
    };
    let connection = request
        .extensions()
        .get::<ConnectInfo<ConnectionHandle>>()
        .map(|c| c.0.clone());
    match admission {
        Admission::Process => return next.run(request).await,
        Admission::ProcessThenHold => {
            // Everything the request does happens; only its answer is lost.
            drop(next.run(request).await);
            shared.freeze.mark_reached();
        }
        Admission::Hold => drop(request),
    }
    shared.freeze.held().await;
    // The sandbox is stopping: the held answer must never arrive, so the connection is reset.
    if let Some(connection) = connection {
        connection.kill();
    }
    StatusCode::SERVICE_UNAVAILABLE.into_response()
}

/// The sandbox's Graph and token routes.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/_sandbox/requests", get(read_log).delete(clear_log))
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery::openid_v2),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(discovery::openid_v1),
        )
        .route("/{tenant}/discovery/instance", get(discovery::instance))
        .route("/{tenant}/discovery/v2.0/keys", get(discovery::keys))
        .route("/{tenant}/discovery/keys", get(discovery::keys))
        .route("/v1.0/{*path}", any(graph))
        .fallback(unknown_version)
        .layer(middleware::from_fn_with_state(shared.clone(), transport))
        .layer(middleware::from_fn_with_state(shared.clone(), freeze))
        .with_state(shared)
}

/// A switch that resets one connection: its next read or write fails and the socket closes with RST.
#[derive(Clone, Debug)]
pub struct ConnectionHandle(Arc<AtomicBool>);

impl ConnectionHandle {
    fn kill(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, ResettableListener>> for ConnectionHandle {
    fn connect_info(stream: IncomingStream<'_, ResettableListener>) -> Self {
        ConnectionHandle(stream.io().killed.clone())
    }
}

/// TCP listener whose connections can be reset by the connection-reset fault; with a TLS acceptor
/// it serves https, handshaking each connection in its own task so a silent client holds up no
/// other.
pub struct ResettableListener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    handshakes: JoinSet<Option<TlsStream<TcpStream>>>,
}

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl ResettableListener {
    pub fn new(tcp: TcpListener, tls: Option<TlsAcceptor>) -> Self {
        ResettableListener {
            tcp,
            tls,
            handshakes: JoinSet::new(),
        }
    }
}

/// The bytes of one connection: plain TCP or TLS over it.
enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// A TCP (or TLS) stream with a reset switch.
pub struct ResettableStream {
    inner: Io,
    killed: Arc<AtomicBool>,
}

impl ResettableStream {
    fn new(inner: Io) -> Self {
        ResettableStream {
            inner,
            killed: Arc::new(AtomicBool::new(false)),
        }
    }

    fn check(&self) -> io::Result<()> {
        if self.killed.load(Ordering::SeqCst) {
            let tcp = match &self.inner {
                Io::Plain(tcp) => tcp,
                Io::Tls(tls) => tls.get_ref().0,
            };
            let _ = tcp.set_zero_linger();
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "sandbox fault: connection reset",
            ));
        }
        Ok(())
    }
}

impl Listener for ResettableListener {
    type Io = ResettableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                accepted = self.tcp.accept() => match accepted {
                    Ok((stream, addr)) => {
                        let _ = stream.set_nodelay(true);
                        let Some(tls) = self.tls.clone() else {
                            return (ResettableStream::new(Io::Plain(stream)), addr);
                        };
                        self.handshakes.spawn(async move {
                            tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream))
                                .await
                                .ok()?
                                .ok()
                        });
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                },
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(stream)) = done {
                        let addr = stream
                            .get_ref()
                            .0
                            .peer_addr()
                            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
                        return (ResettableStream::new(Io::Tls(Box::new(stream))), addr);
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        match &mut this.inner {
            Io::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Io::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        match &mut this.inner {
            Io::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Io::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        match &mut this.inner {
            Io::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Io::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        match &mut this.inner {
            Io::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Io::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}
