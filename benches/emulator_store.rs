//! How the sandbox's store copes with a large tenant: 10,000 applications created through the
//! public API (as `$batch` requests of 20), then timed filtered reads of 999-item pages, and the
//! memory the store takes.
//!
//! Memory is measured two ways and both are reported: the serialized state (the bytes of
//! `.appreg/sandbox.json`, written by `RunningSandbox::save_state`), and the live heap attributable to the
//! directory, counted by a global allocator wrapper as (bytes allocated - bytes freed) after the
//! request log is cleared, compared with the same count for an empty sandbox.
//!
//! Run: `cargo bench --bench emulator_store` (release build; prints a report, asserts nothing).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use appreg::emulator::{RunningSandbox, Sandbox, SandboxConfig};
use serde_json::{Value, json};

/// Counts live heap bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const APPS: usize = 10_000;
const BATCH: usize = 20;
const PAGE: usize = 999;
const SAMPLES: usize = 20;

struct Client {
    http: reqwest::Client,
    graph: String,
    token: String,
}

impl Client {
    async fn new(sandbox: &RunningSandbox) -> Client {
        let http = reqwest::Client::new();
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials")
            .append_pair("client_id", sandbox.admin_client_id())
            .append_pair("client_secret", sandbox.admin_client_secret())
            .append_pair("scope", "https://graph.microsoft.com/.default");
        let answer: Value = http
            .post(sandbox.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.finish())
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token answer");
        Client {
            http,
            graph: sandbox.graph_url().to_string(),
            token: answer["access_token"]
                .as_str()
                .expect("a token")
                .to_string(),
        }
    }

    async fn get(&self, url: &str) -> Value {
        let response = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("GET");
        assert!(
            response.status().is_success(),
            "GET {url}: {}",
            response.status()
        );
        response.json().await.expect("JSON")
    }
}

fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / 1_048_576.0)
}

fn summary(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  {label:<58} median {:>7.2} ms   min {:>7.2} ms   max {:>7.2} ms   ({} samples)",
        ms(samples[samples.len() / 2]),
        ms(samples[0]),
        ms(samples[samples.len() - 1]),
        samples.len()
    );
}

async fn filtered_pages(
    sandbox: &RunningSandbox,
    client: &Client,
    label: &str,
    filter: &str,
    select: Option<&str>,
) {
    sandbox.clear_log();
    let mut url = format!(
        "{}/applications?$top={PAGE}&$filter={}",
        client.graph,
        urlencode(filter)
    );
    if let Some(select) = select {
        url.push_str(&format!("&$select={select}"));
    }
    let mut first_page = Vec::new();
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let page = client.get(&url).await;
        first_page.push(started.elapsed());
        assert_eq!(page["value"].as_array().map(Vec::len), Some(PAGE));
    }
    summary(
        &format!("first {PAGE}-item page, {label} (client round trip)"),
        first_page,
    );
    let server: Vec<Duration> = sandbox
        .request_log()
        .requests
        .iter()
        .map(|e| Duration::from_secs_f64(e.latency_ms / 1000.0))
        .collect();
    summary(
        &format!("first {PAGE}-item page, {label} (server side)"),
        server,
    );
    let started = Instant::now();
    let (mut next, mut items, mut pages) = (Some(url), 0, 0);
    while let Some(link) = next {
        let page = client.get(&link).await;
        items += page["value"].as_array().map_or(0, Vec::len);
        pages += 1;
        next = page["@odata.nextLink"].as_str().map(str::to_string);
    }
    println!(
        "  all {items} matches in {pages} pages, {label}: {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let empty = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
        let baseline_heap = live_bytes();
        let baseline_rss = rss_kib();
        let client = Client::new(&empty).await;

        let started = Instant::now();
        for chunk in 0..APPS / BATCH {
            let requests: Vec<Value> = (0..BATCH)
                .map(|i| {
                    let n = chunk * BATCH + i;
                    json!({
                        "id": i.to_string(),
                        "method": "POST",
                        "url": "/applications",
                        "headers": {"Content-Type": "application/json"},
                        "body": {
                            "displayName": format!("bench app {n:05}"),
                            "tags": ["appreg:managed", format!("appreg:set=bench-{}", n % 2)],
                            "web": {"redirectUris": [format!("https://app{n}.example.com/callback")]},
                            "requiredResourceAccess": [{"resourceAppId": "00000003-0000-0000-c000-000000000000", "resourceAccess": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}]}]
                        }
                    })
                })
                .collect();
            let response = client
                .http
                .post(format!("{}/$batch", client.graph))
                .bearer_auth(&client.token)
                .json(&json!({"requests": requests}))
                .send()
                .await
                .expect("batch");
            let answer: Value = response.json().await.expect("batch answer");
            assert!(answer["responses"].as_array().expect("responses").iter().all(|r| r["status"] == 201));
        }
        let created_in = started.elapsed();
        empty.clear_log();
        let store_heap = live_bytes() - baseline_heap;
        let store_rss = rss_kib().zip(baseline_rss).map(|(after, before)| after.saturating_sub(before));

        println!("emulator_store: {APPS} applications created through $batch in {:.2} s", created_in.as_secs_f64());
        filtered_pages(&empty, &client, "startswith(displayName)", "startswith(displayName,'bench app')", None).await;
        filtered_pages(&empty, &client, "tags/any, $select=id,displayName", "tags/any(t:t eq 'appreg:managed')", Some("id,displayName")).await;

        let full_size = empty.save_state(&dir.path().join("full.json")).expect("save");
        let fresh = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
        let fresh_size = fresh.save_state(&dir.path().join("fresh.json")).expect("save");
        fresh.shutdown().await;
        empty.shutdown().await;

        println!("memory of the store holding {APPS} applications:");
        println!("  live heap (counting allocator, after clearing the request log): {}", mib(store_heap as f64));
        println!("  per application:                                               {:.0} bytes", store_heap as f64 / APPS as f64);
        if let Some(kib) = store_rss {
            println!("  RSS delta (/proc/self/status, includes allocator slack):      {}", mib(kib as f64 * 1024.0));
        }
        println!("  serialized state (.appreg/sandbox.json format):               {} ({} for an empty tenant)", mib(full_size as f64), mib(fresh_size as f64));
    });
}
