//! SMS webhook load: the real app (in-process, `App::build` + `run_until_stopped`, HTTP on a
//! free port) on SQLite (WAL, synchronous=FULL) in a temp dir, and on PostgreSQL when
//! PEYK_BENCH_DATABASE_URL is set. A concurrent load generator (reqwest, 64 requests in flight)
//! fires signed `POST /webhooks/sms/generic` requests with distinct ids from 2,000 phone
//! numbers (so the per-number limit of 30 a minute is not what is measured) and prints
//! requests per second and the p50/p99 latency. Every request must answer 200; the stored
//! receipts are counted afterwards.
//!
//! Run: `cargo bench --bench sms_load` (optional: PEYK_BENCH_REQUESTS=N, default 20,000;
//! PEYK_BENCH_CONCURRENCY=N, default 64; settings overrides such as
//! PEYK__SMS__GROUP_COMMIT_MAX_BATCH=32; PEYK_BENCH_SQLITE=0 runs PostgreSQL alone;
//! PEYK_BENCH_LOG=peyk=debug logs every group commit, =peyk=trace the batch's phases too).

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use peyk::app::App;
use peyk::clock::{SharedClock, SystemClock};
use peyk::config::{GenericSmsSettings, Settings};
use peyk::inbound::sms::generic;
use peyk::store::entities::inbound_receipt;
use sea_orm::{EntityTrait, PaginatorTrait};

const SECRET: &str = "bench-inbound-secret";
const PHONE_NUMBERS: usize = 2_000;
const WARM_UP_REQUESTS: usize = 500;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One signed request: its body and its `X-Peyk-Signature`.
struct SignedRequest {
    body: Vec<u8>,
    signature: String,
}

fn requests(prefix: &str, count: usize) -> Vec<SignedRequest> {
    (0..count)
        .map(|i| {
            let from = format!("0912{:07}", 1_000_000 + i % PHONE_NUMBERS);
            let text = if i % 2 == 0 {
                format!("سلام، اینترنت\u{200c}ام از صبح قطع است. لطفاً بررسی کنید ({i})")
            } else {
                format!("Hello, my line has been down since this morning ({i})")
            };
            let body = serde_json::json!({
                "id": format!("{prefix}-{i}"),
                "from": from,
                "to": "30001234",
                "text": text,
            })
            .to_string()
            .into_bytes();
            let signature = generic::signature(SECRET, &body);
            SignedRequest { body, signature }
        })
        .collect()
}

struct LoadResult {
    elapsed: Duration,
    latencies: Vec<Duration>,
    failures: Vec<String>,
}

/// Sends every request with `concurrency` in flight; records each one's latency.
async fn fire(url: &str, requests: Arc<Vec<SignedRequest>>, concurrency: usize) -> LoadResult {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let client = client.clone();
            let requests = requests.clone();
            let next = next.clone();
            let url = url.to_string();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(request) = requests.get(index) else {
                        break;
                    };
                    let sent = Instant::now();
                    let outcome = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("x-peyk-signature", &request.signature)
                        .body(request.body.clone())
                        .send()
                        .await;
                    match outcome {
                        Ok(response) => {
                            let status = response.status();
                            let body = response.bytes().await.unwrap_or_default();
                            latencies.push(sent.elapsed());
                            if status != reqwest::StatusCode::OK {
                                failures
                                    .push(format!("{status}: {}", String::from_utf8_lossy(&body)));
                            }
                        }
                        Err(e) => failures.push(e.to_string()),
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(requests.len());
    let mut failures = Vec::new();
    for worker in workers {
        let (mut l, mut f) = worker.await.expect("worker");
        latencies.append(&mut l);
        failures.append(&mut f);
    }
    LoadResult {
        elapsed: started.elapsed(),
        latencies,
        failures,
    }
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64) * fraction).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn run(label: &str, database_url: &str, data_dir: &std::path::Path) {
    let requests_total = env_number("PEYK_BENCH_REQUESTS", 20_000);
    let concurrency = env_number("PEYK_BENCH_CONCURRENCY", 64).max(1);
    // The defaults, with any PEYK__SECTION__KEY override (e.g. PEYK__SMS__GROUP_COMMIT_MAX_BATCH).
    let overrides: Vec<(String, String)> = std::env::vars()
        .filter(|(name, _)| name.starts_with("PEYK__"))
        .collect();
    let mut settings =
        Settings::from_toml_and_env("", "(bench defaults)", &overrides).expect("settings");
    settings.database.url = database_url.to_string();
    settings.app.data_dir = data_dir.to_path_buf();
    settings.http.listen = "127.0.0.1:0".parse().expect("address");
    settings.sms.generic = Some(GenericSmsSettings {
        inbound_secret: Some(SECRET.into()),
        ..GenericSmsSettings::default()
    });
    let clock: SharedClock = Arc::new(SystemClock);
    let app = App::build(settings.clone(), clock).await.expect("app");
    let url = format!(
        "http://{}/webhooks/sms/generic",
        app.local_addr().expect("bound")
    );
    let store = app.store().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));

    let warm_up = fire(
        &url,
        Arc::new(requests("warm", WARM_UP_REQUESTS)),
        concurrency,
    )
    .await;
    let measured = Arc::new(requests("load", requests_total));
    let result = fire(&url, measured, concurrency).await;

    let mut latencies = result.latencies;
    latencies.sort();
    let stored = inbound_receipt::Entity::find()
        .count(store.db())
        .await
        .expect("count");
    println!(
        "sms_load {label}: {requests_total} requests, {concurrency} in flight, batches of at most {} within {} ms: {:.0} requests/s; p50 {:.1} ms; p99 {:.1} ms; max {:.1} ms; {} failed; {stored} receipts stored",
        settings.sms.group_commit_max_batch,
        settings.sms.group_commit_max_wait_ms,
        requests_total as f64 / result.elapsed.as_secs_f64(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        result.failures.len() + warm_up.failures.len(),
    );
    for failure in result.failures.iter().chain(&warm_up.failures).take(5) {
        println!("  failure: {failure}");
    }
    let _ = stop.send(());
    let _ = server.await;
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // PEYK_BENCH_LOG=peyk=debug shows each group commit (items, time); =trace adds the phases.
    if let Ok(filter) = std::env::var("PEYK_BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let sqlite = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        );
        if std::env::var("PEYK_BENCH_SQLITE").as_deref() != Ok("0") {
            run("SQLite (WAL, synchronous=FULL)", &sqlite, dir.path()).await;
        }
        if let Some(database) = common::BenchDatabase::create("peyk_sms_bench").await {
            run("PostgreSQL", &database.url, dir.path()).await;
            database.drop_database().await;
        }
    });
}
