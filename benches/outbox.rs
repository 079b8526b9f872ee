//! Outbox throughput: N acknowledgements (default 2,000) enqueued through intake into SQLite
//! (synchronous=FULL), then delivered by one outbox worker to a local SMTP server (python3
//! aiosmtpd with STARTTLS and AUTH, accepting without delivering further) over lettre's pooled
//! transport, with no rate limit. Prints notifications per second; with
//! PEYK_BENCH_DATABASE_URL (a PostgreSQL database) it runs there too.
//!
//! Run: `cargo bench --bench outbox` (optional: PEYK_BENCH_NOTIFICATIONS=N).

#[allow(dead_code)]
#[path = "../tests/it/dovecot.rs"]
mod dovecot;
#[allow(dead_code)]
#[path = "../tests/it/smtp.rs"]
mod smtp;

use std::sync::Arc;
use std::time::Instant;

use peyk::clock::{SharedClock, SystemClock};
use peyk::config::{Settings, SmtpSettings};
use peyk::inbound::email::parse_email;
use peyk::intake::{InboundItem, Intake, IntakeRules};
use peyk::outbound::worker::{DeliveryOutcome, OutboxWorker};
use peyk::store::{Store, outbox};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn run(
    label: &str,
    database_url: String,
    data_dir: &std::path::Path,
    smtp: &smtp::SmtpServer,
    ca: std::path::PathBuf,
    count: usize,
) {
    let mut settings = Settings::default();
    settings.database.url = database_url;
    settings.app.data_dir = data_dir.to_path_buf();
    settings.notify.per_recipient_per_hour = 0;
    settings.smtp = Some(SmtpSettings {
        url: smtp.url(),
        ca_file: Some(ca),
    });
    let clock: SharedClock = Arc::new(SystemClock);
    let store = Store::connect(&settings.database).await.expect("connect");
    store.migrate().await.expect("migrate");
    let intake = Intake::new(
        store.clone(),
        IntakeRules::from_settings(&settings),
        clock.clone(),
    );
    let now = clock.now();
    let ids: Vec<usize> = (0..count).collect();
    for chunk in ids.chunks(200) {
        let items = chunk
            .iter()
            .map(|n| {
                let raw = format!(
                    "From: Customer {n} <bench{n}@customer.example>\r\nTo: support@peyk.example\r\nSubject: Internet outage {n}\r\nMessage-ID: <bench-out-{n}-{}@customer.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello, the internet is down.\r\n",
                    rand::random::<u64>()
                );
                InboundItem::Parsed(Box::new(
                    parse_email(raw.as_bytes(), "import", None, 1 << 20, now)
                        .result
                        .expect("parses"),
                ))
            })
            .collect();
        intake.ingest_batch(items).await.expect("ingest");
    }
    let worker = OutboxWorker::from_settings(
        store.clone(),
        clock.clone(),
        &settings,
        intake.outbox_wakeup(),
    )
    .expect("worker");
    let before = smtp.deliveries().len();
    let started = Instant::now();
    // As `serve` runs it: notify.send_concurrency loops side by side.
    let loops = (0..settings.notify.send_concurrency).map(|_| {
        let worker = worker.clone();
        async move {
            let mut sent = 0usize;
            loop {
                match worker.try_deliver_next().await.expect("deliver") {
                    DeliveryOutcome::Sent => sent += 1,
                    DeliveryOutcome::Idle => return sent,
                    other => panic!("unexpected outcome {other:?}"),
                }
            }
        }
    });
    let sent: usize = futures::future::join_all(loops).await.into_iter().sum();
    let elapsed = started.elapsed();
    let delivered = smtp.deliveries().len() - before;
    let pending = outbox::count_by_status(store.db(), "pending")
        .await
        .expect("count");
    assert_eq!(sent, count);
    assert_eq!(delivered, count);
    assert_eq!(pending, 0);
    println!(
        "outbox {label}: {count} notifications delivered over SMTP (STARTTLS, AUTH, pooled, {} concurrent sends) in {:.2} s: {:.0} notifications/s",
        settings.notify.send_concurrency,
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let count = env_number("PEYK_BENCH_NOTIFICATIONS", 2_000);
    let certs = tempfile::tempdir().expect("temp dir");
    dovecot::make_certificates(certs.path());
    let smtp = smtp::SmtpServer::start(
        &certs.path().join("server.pem"),
        &certs.path().join("server.key"),
        None,
    )
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    run(
        "sqlite",
        url,
        &dir.path().join("data"),
        &smtp,
        certs.path().join("ca.pem"),
        count,
    )
    .await;
    if let Ok(url) = std::env::var("PEYK_BENCH_DATABASE_URL")
        && !url.is_empty()
    {
        run(
            "postgres",
            url,
            &dir.path().join("data-pg"),
            &smtp,
            certs.path().join("ca.pem"),
            count,
        )
        .await;
    }
}
