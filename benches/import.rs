//! Import throughput: 10,000 generated messages (Persian and English; 70 % new tickets, 30 %
//! replies by In-Reply-To, a few with attachments) through `peyk import`'s path (read, parse,
//! classify, thread, store in batched transactions) into SQLite with synchronous=FULL, and into
//! PostgreSQL when PEYK_BENCH_DATABASE_URL is set. Prints messages per second and peak memory.
//!
//! Run: `cargo bench --bench import` (optional: PEYK_BENCH_MESSAGES=N, PEYK_BENCH_BATCH=N).

#[path = "common/mod.rs"]
mod common;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use peyk::clock::{SharedClock, SystemClock};
use peyk::config::Settings;
use peyk::import::{ImportTarget, import_files};
use peyk::intake::{Intake, IntakeRules};
use peyk::store::Store;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn generate(dir: &std::path::Path, count: usize) -> Vec<PathBuf> {
    let mut files = Vec::with_capacity(count);
    let mut new_ids: Vec<(usize, usize)> = Vec::new();
    for i in 0..count {
        let customer = i % 2_000;
        let persian = i % 3 == 0;
        let from = format!(
            "customer{customer}@example.{}",
            if persian { "ir" } else { "com" }
        );
        let reply_to =
            (i % 10 >= 7 && !new_ids.is_empty()).then(|| new_ids[(i * 7919) % new_ids.len()]);
        let (subject, body) = if persian {
            (
                "قطعی اینترنت در منطقه",
                "سلام، اینترنت ما از صبح قطع است و چراغ مودم قرمز است. لطفاً بررسی کنید. با تشکر",
            )
        } else {
            (
                "Internet outage in our area",
                "Hello, our internet has been down since this morning and the modem light is red. Please check. Thanks",
            )
        };
        let mut raw = format!(
            "From: Customer {customer} <{from}>\r\nTo: support@peyk.example\r\nSubject: =?UTF-8?B?{}?=\r\nDate: Mon, 30 Nov 2026 10:00:00 +0330\r\nMessage-ID: <bench-{i}@example.org>\r\nMIME-Version: 1.0\r\n",
            base64_encode(subject.as_bytes())
        );
        if let Some((parent, parent_customer)) = reply_to {
            let _ = parent_customer;
            raw.push_str(&format!("In-Reply-To: <bench-{parent}@example.org>\r\n"));
        }
        if i % 50 == 0 {
            raw.push_str("Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
            raw.push_str(&format!("{body} ({i})\r\n--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"invoice-{i}.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"));
            let attachment: Vec<u8> = (0..30_000u32).map(|n| (n * 31 + i as u32) as u8).collect();
            let encoded = base64_encode(&attachment);
            for chunk in encoded.as_bytes().chunks(76) {
                raw.push_str(std::str::from_utf8(chunk).unwrap_or(""));
                raw.push_str("\r\n");
            }
            raw.push_str("--B--\r\n");
        } else {
            raw.push_str("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
            raw.push_str(&format!("{body} ({i})\r\n"));
        }
        if reply_to.is_none() {
            new_ids.push((i, customer));
        }
        let path = dir.join(format!("{i:06}.eml"));
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(raw.as_bytes()))
            .expect("write message");
        files.push(path);
    }
    files
}

fn base64_encode(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (k, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if k <= chunk.len() {
                out.push(char::from(TABLE[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Peak resident memory of this process (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn reset_peak_rss() {
    // "5" resets VmHWM to the current RSS (Linux 4.0+), so the figure covers the import only.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

async fn run(label: &str, database_url: &str, files: &[PathBuf], batch: usize) {
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
    let target = ImportTarget::new(&settings, None).expect("target");
    let mut sink = std::io::sink();
    reset_peak_rss();
    let started = Instant::now();
    import_files(
        &intake,
        clock.as_ref(),
        &target,
        files,
        settings.app.attachment_max_bytes,
        batch,
        &mut sink,
    )
    .await
    .expect("import");
    let elapsed = started.elapsed().as_secs_f64();
    let tickets = peyk::store::tickets::count_tickets(store.db())
        .await
        .expect("count");
    println!(
        "import {label}: {} messages in {elapsed:.2} s = {:.0} messages/s; {tickets} tickets; batch {batch}; peak RSS {:.1} MiB",
        files.len(),
        files.len() as f64 / elapsed,
        peak_rss_mib()
    );
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let count = env_number("PEYK_BENCH_MESSAGES", 10_000);
    let batch = env_number("PEYK_BENCH_BATCH", 200);
    let dir = tempfile::tempdir().expect("temp dir");
    let mail_dir = dir.path().join("mail");
    std::fs::create_dir_all(&mail_dir).expect("mkdir");
    let files = generate(&mail_dir, count);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let sqlite = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        );
        run("SQLite (WAL, synchronous=FULL)", &sqlite, &files, batch).await;
        if let Some(database) = common::BenchDatabase::create("peyk_bench").await {
            run("PostgreSQL", &database.url, &files, batch).await;
            database.drop_database().await;
        }
    });
}
