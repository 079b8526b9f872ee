//! IMAP intake throughput: N messages appended to a private Dovecot while Peyk is stopped, then
//! the time until all are committed tickets (fetch, parse, classify, thread, store in batches,
//! mark \Seen). Prints messages per second on SQLite (WAL, synchronous=FULL), and on PostgreSQL
//! when PEYK_BENCH_DATABASE_URL is set.
//!
//! Run: `cargo bench --bench imap` (PEYK_BENCH_MESSAGES=N, default 5000; needs dovecot-imapd).

#[path = "../tests/it/dovecot.rs"]
#[allow(dead_code)] // the test harness has more than the benchmark uses
mod dovecot;

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use peyk::clock::{SharedClock, SystemClock};
use peyk::config::Settings;
use peyk::inbound::email::{MailboxMonitor, MailboxPoller};
use peyk::intake::{Intake, IntakeRules};
use peyk::store::Store;
use tokio_util::sync::CancellationToken;

async fn run(
    label: &str,
    database_url: &str,
    dovecot: &dovecot::Dovecot,
    folder: &str,
    count: u64,
) {
    let mut settings = Settings::default();
    settings.database.url = database_url.to_string();
    let clock: SharedClock = Arc::new(SystemClock);
    let store = Store::connect(&settings.database).await.expect("connect");
    store.migrate().await.expect("migrate");
    let intake = Intake::new(
        store.clone(),
        IntakeRules::from_settings(&settings),
        clock.clone(),
    );
    let key = "bench";
    let monitor = MailboxMonitor::new([key]);
    let poller = MailboxPoller::new(
        dovecot.mailbox(key, folder),
        intake,
        clock,
        monitor.clone(),
        settings.intake.batch_size as usize,
        settings.app.attachment_max_bytes,
    );
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let task = tokio::spawn(poller.run(cancel.clone()));
    loop {
        let ingested = monitor.snapshot().get(key).map(|s| s.ingested).unwrap_or(0);
        if ingested >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    cancel.cancel();
    let _ = task.await;
    let tickets = peyk::store::tickets::count_tickets(store.db())
        .await
        .expect("count");
    println!(
        "imap {label}: {count} messages from Dovecot to committed tickets in {elapsed:.2} s = {:.0} messages/s ({tickets} tickets, batch {})",
        count as f64 / elapsed,
        settings.intake.batch_size
    );
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let count: u64 = std::env::var("PEYK_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dovecot = dovecot::Dovecot::start().await;
        let mut client = dovecot.client().await;
        let append_started = Instant::now();
        for n in 0..count {
            client
                .append(
                    "INBOX",
                    &dovecot::customer_message(n as usize, &format!("c{}@example.com", n % 1000)),
                    false,
                )
                .await;
        }
        println!(
            "appended {count} messages in {:.1} s",
            append_started.elapsed().as_secs_f64()
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let sqlite = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        );
        run(
            "SQLite (WAL, synchronous=FULL)",
            &sqlite,
            &dovecot,
            "INBOX",
            count,
        )
        .await;
        if let Some(database) = common::BenchDatabase::create("peyk_bench_imap").await {
            // The same messages, already \Seen: Peyk takes seen mail too.
            run("PostgreSQL", &database.url, &dovecot, "INBOX", count).await;
            database.drop_database().await;
        }
    });
}
