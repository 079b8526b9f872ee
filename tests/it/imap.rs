//! The IMAP poller against a real Dovecot: IDLE delivery, a backlog taken exactly once, mail
//! another client already read, a recreated folder (new UIDVALIDITY), a server restart, the
//! processed folder, and SIGKILL in the middle of ingesting.

use std::time::{Duration, Instant};

use peyk::config::MailboxSettings;
use peyk::inbound::email::{MailboxMonitor, MailboxPoller};
use peyk::store::{self, Store};
use tokio_util::sync::CancellationToken;

use crate::dovecot::{Dovecot, customer_message};
use crate::harness::{Backend, TestDb, backends, system_clock};

struct RunningPoller {
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    monitor: MailboxMonitor,
}

impl RunningPoller {
    async fn stop(self) {
        self.cancel.cancel();
        let _ = self.task.await;
    }
}

async fn start_poller(
    db: &TestDb,
    mailbox: MailboxSettings,
    batch_size: usize,
) -> (Store, RunningPoller) {
    let (store, intake) = db.intake(system_clock()).await;
    let monitor = MailboxMonitor::new([mailbox.key.as_str()]);
    let poller = MailboxPoller::new(
        mailbox,
        intake,
        system_clock(),
        monitor.clone(),
        batch_size,
        10 * 1024 * 1024,
    );
    let cancel = CancellationToken::new();
    let task = tokio::spawn(poller.run(cancel.clone()));
    (
        store,
        RunningPoller {
            cancel,
            task,
            monitor,
        },
    )
}

async fn receipts(store: &Store, source: &str) -> u64 {
    let (rows, _) = store::inbound::list_receipts(store.db(), None, 1, 100_000)
        .await
        .expect("receipts");
    rows.iter().filter(|r| r.source == source).count() as u64
}

async fn wait_for_receipts(store: &Store, source: &str, expected: u64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let n = receipts(store, source).await;
        if n >= expected {
            assert_eq!(n, expected, "more receipts than messages");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {n} of {expected} messages ingested"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn wait_connected(monitor: &MailboxMonitor, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !monitor
        .snapshot()
        .get(key)
        .is_some_and(|s| s.connected && s.last_success_at.is_some())
    {
        assert!(
            Instant::now() < deadline,
            "poller did not connect: {:?}",
            monitor.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every message stored once: as many messages and receipts as distinct Message-IDs.
async fn assert_each_once(store: &Store, expected: u64) {
    let (rows, total) = store::inbound::list_receipts(store.db(), None, 1, 100_000)
        .await
        .expect("receipts");
    assert_eq!(total, expected);
    let mut ids: Vec<&str> = rows.iter().map(|r| r.external_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len() as u64, expected, "no message twice");
    assert_eq!(
        store::tickets::count_tickets(store.db())
            .await
            .expect("count"),
        expected
    );
}

#[tokio::test]
async fn an_appended_message_arrives_by_idle_long_before_the_poll_interval() {
    for backend in backends() {
        let dovecot = Dovecot::start().await;
        let db = TestDb::create(backend).await;
        let mailbox = dovecot.mailbox("support", "INBOX"); // poll interval 120 s: only IDLE is quick
        let (store, poller) = start_poller(&db, mailbox, 50).await;
        wait_connected(&poller.monitor, "support").await;
        tokio::time::sleep(Duration::from_millis(200)).await; // let the poller enter IDLE
        let mut client = dovecot.client().await;
        let appended = Instant::now();
        client
            .append("INBOX", &customer_message(1, "ali@example.ir"), false)
            .await;
        wait_for_receipts(&store, "support", 1, Duration::from_secs(30)).await;
        println!(
            "{backend:?}: APPEND to committed ticket with IDLE in {} ms",
            appended.elapsed().as_millis()
        );
        // Marked \Seen only after the commit.
        assert_eq!(client.flags("INBOX").await, vec![(1, true)]);
        poller.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_thousand_messages_appended_while_stopped_are_each_ingested_once() {
    for backend in backends() {
        let dovecot = Dovecot::start().await;
        let db = TestDb::create(backend).await;
        let mut client = dovecot.client().await;
        for n in 0..1000 {
            client
                .append(
                    "INBOX",
                    &customer_message(n, &format!("c{n}@example.com")),
                    n % 3 == 0,
                )
                .await;
        }
        let started = Instant::now();
        let (store, poller) = start_poller(&db, dovecot.mailbox("support", "INBOX"), 200).await;
        wait_for_receipts(&store, "support", 1000, Duration::from_secs(300)).await;
        println!(
            "{backend:?}: 1000 waiting messages committed in {} ms",
            started.elapsed().as_millis()
        );
        assert_each_once(&store, 1000).await;
        let flags = client.flags("INBOX").await;
        assert_eq!(flags.len(), 1000);
        assert!(
            flags.iter().all(|(_, seen)| *seen),
            "all marked \\Seen after commit"
        );
        poller.stop().await;
        // A restart finds nothing new to take.
        let (store, poller) = start_poller(&db, dovecot.mailbox("support", "INBOX"), 200).await;
        wait_connected(&poller.monitor, "support").await;
        assert_each_once(&store, 1000).await;
        poller.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_message_another_client_already_read_is_still_ingested() {
    for backend in backends() {
        let dovecot = Dovecot::start().await;
        let db = TestDb::create(backend).await;
        let (store, poller) = start_poller(&db, dovecot.mailbox("support", "INBOX"), 50).await;
        wait_connected(&poller.monitor, "support").await;
        let mut client = dovecot.client().await;
        client
            .append("INBOX", &customer_message(7, "sara@example.com"), true)
            .await;
        wait_for_receipts(&store, "support", 1, Duration::from_secs(30)).await;
        poller.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_recreated_folder_with_a_new_uidvalidity_duplicates_nothing() {
    for backend in backends() {
        let dovecot = Dovecot::start().await;
        let db = TestDb::create(backend).await;
        let mut client = dovecot.client().await;
        client.create("Tickets").await;
        for n in 0..5 {
            client
                .append(
                    "Tickets",
                    &customer_message(n, &format!("r{n}@example.com")),
                    false,
                )
                .await;
        }
        let first_validity = client.uid_validity("Tickets").await;
        let (store, poller) = start_poller(&db, dovecot.mailbox("tickets", "Tickets"), 50).await;
        wait_for_receipts(&store, "tickets", 5, Duration::from_secs(30)).await;
        poller.stop().await;

        // The folder is deleted and recreated with the same five messages and one new one.
        client.session.select("INBOX").await.expect("select");
        client.delete("Tickets").await;
        tokio::time::sleep(Duration::from_millis(1100)).await; // UIDVALIDITY is a timestamp
        client.create("Tickets").await;
        for n in 0..6 {
            client
                .append(
                    "Tickets",
                    &customer_message(n, &format!("r{n}@example.com")),
                    false,
                )
                .await;
        }
        assert_ne!(client.uid_validity("Tickets").await, first_validity);
        let (store, poller) = start_poller(&db, dovecot.mailbox("tickets", "Tickets"), 50).await;
        wait_for_receipts(&store, "tickets", 6, Duration::from_secs(30)).await;
        assert_each_once(&store, 6).await;
        poller.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn dovecot_stopped_and_restarted_mid_run_loses_nothing() {
    for backend in backends() {
        let mut dovecot = Dovecot::start().await;
        let db = TestDb::create(backend).await;
        let mut mailbox = dovecot.mailbox("support", "INBOX");
        mailbox.poll_interval_secs = 1;
        let (store, poller) = start_poller(&db, mailbox, 20).await;
        wait_connected(&poller.monitor, "support").await;
        let mut client = dovecot.client().await;
        for n in 0..50 {
            client
                .append(
                    "INBOX",
                    &customer_message(n, &format!("d{n}@example.com")),
                    false,
                )
                .await;
        }
        drop(client);
        dovecot.restart().await;
        let mut client = dovecot.client().await;
        for n in 50..100 {
            client
                .append(
                    "INBOX",
                    &customer_message(n, &format!("d{n}@example.com")),
                    false,
                )
                .await;
        }
        wait_for_receipts(&store, "support", 100, Duration::from_secs(120)).await;
        assert_each_once(&store, 100).await;
        let status = poller.monitor.snapshot()["support"].clone();
        assert!(
            status.reconnects >= 1,
            "the poller noticed the restart: {status:?}"
        );
        poller.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn with_a_processed_folder_mail_is_moved_there_after_commit() {
    let dovecot = Dovecot::start().await;
    let db = TestDb::create(Backend::Sqlite).await;
    let mut client = dovecot.client().await;
    for n in 0..3 {
        client
            .append(
                "INBOX",
                &customer_message(n, &format!("p{n}@example.com")),
                false,
            )
            .await;
    }
    let mut mailbox = dovecot.mailbox("support", "INBOX");
    mailbox.processed_folder = Some("Processed".into());
    let (store, poller) = start_poller(&db, mailbox, 50).await;
    wait_for_receipts(&store, "support", 3, Duration::from_secs(30)).await;
    poller.stop().await;
    assert!(client.flags("INBOX").await.is_empty(), "INBOX emptied");
    assert_eq!(client.flags("Processed").await.len(), 3);
    db.cleanup().await;
}

/// `peyk serve` with one mailbox, started as a process.
fn spawn_serve(config: &std::path::Path, cwd: &std::path::Path) -> std::process::Child {
    std::process::Command::new(crate::harness::peyk_binary())
        .args(["serve", "--config", &config.display().to_string()])
        .current_dir(cwd)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("spawn serve")
}

#[tokio::test]
async fn sigkill_in_the_middle_of_ingesting_500_messages_then_restart_stores_each_once() {
    for backend in backends() {
        let dovecot = Dovecot::start().await;
        let db = TestDb::create(backend).await;
        let mut client = dovecot.client().await;
        for n in 0..500 {
            client
                .append(
                    "INBOX",
                    &customer_message(n, &format!("k{n}@example.com")),
                    false,
                )
                .await;
        }
        let config = db.write_config(&format!(
            "\n[intake]\nbatch_size = 10\n\n[[mailboxes]]\nkey = \"support\"\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nusername = \"{}\"\npassword = \"{}\"\nfolder = \"INBOX\"\nidle = true\npoll_interval_secs = 2\n",
            dovecot.port,
            crate::dovecot::USER,
            crate::dovecot::PASSWORD
        ));
        let store = db.store().await;
        let mut serve = spawn_serve(&config, db.dir.path());
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut before_kill = 0;
        while before_kill == 0 {
            assert!(Instant::now() < deadline, "nothing ingested");
            tokio::time::sleep(Duration::from_millis(5)).await;
            before_kill = receipts(&store, "support").await;
        }
        serve.kill().expect("SIGKILL");
        let _ = serve.wait();
        let after_kill = receipts(&store, "support").await;
        println!("{backend:?}: killed with {after_kill} of 500 committed");
        assert!(after_kill < 500, "the kill came in the middle of ingesting");

        let mut serve = spawn_serve(&config, db.dir.path());
        wait_for_receipts(&store, "support", 500, Duration::from_secs(300)).await;
        assert_each_once(&store, 500).await;
        let messages = store::tickets::messages_of_ticket(store.db(), 1)
            .await
            .expect("messages");
        assert_eq!(messages.len(), 1, "no message stored twice in a ticket");
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &serve.id().to_string()])
            .status();
        let _ = serve.wait();
        db.cleanup().await;
    }
}

#[tokio::test]
async fn mail_is_taken_over_implicit_tls_and_starttls_with_a_private_ca() {
    let dovecot = Dovecot::start().await;
    let mut client = dovecot.client().await;
    let securities = [
        peyk::config::MailSecurity::Tls,
        peyk::config::MailSecurity::Starttls,
    ];
    for (appended, security) in securities.into_iter().enumerate() {
        // Each run has a database of its own and finds every message appended so far.
        let db = TestDb::create(Backend::Sqlite).await;
        let key = format!("{security:?}").to_lowercase();
        client
            .append(
                "INBOX",
                &customer_message(900 + appended, &format!("{key}@example.com")),
                false,
            )
            .await;
        let (store, poller) = start_poller(&db, dovecot.tls_mailbox(&key, security), 50).await;
        wait_for_receipts(&store, &key, appended as u64 + 1, Duration::from_secs(30)).await;
        assert!(poller.monitor.snapshot()[key.as_str()].connected);
        poller.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_server_certificate_from_an_unknown_ca_is_refused_and_reported() {
    let dovecot = Dovecot::start().await;
    let db = TestDb::create(Backend::Sqlite).await;
    let mut mailbox = dovecot.tls_mailbox("untrusted", peyk::config::MailSecurity::Tls);
    mailbox.ca_file = None;
    let (store, poller) = start_poller(&db, mailbox, 50).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = poller.monitor.snapshot()["untrusted"].clone();
        if let Some(error) = status.last_error {
            assert!(error.contains("TLS"), "{error}");
            assert!(!status.connected);
            break;
        }
        assert!(Instant::now() < deadline, "no error reported");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(receipts(&store, "untrusted").await, 0);
    poller.stop().await;
    db.cleanup().await;
}

async fn get_text(url: &str) -> (u16, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let response = client.get(url).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

#[tokio::test]
async fn serve_reports_each_mailbox_and_a_dead_imap_server_does_not_take_it_down() {
    let dovecot = Dovecot::start().await;
    let db = TestDb::create(Backend::Sqlite).await;
    let mut settings = db.settings();
    let mut dead = dovecot.mailbox("dead", "INBOX");
    dead.port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    }; // nothing listens there once the listener is dropped
    settings.mailboxes = vec![dovecot.mailbox("support", "INBOX"), dead];
    let app = peyk::app::App::build(settings, system_clock())
        .await
        .expect("build");
    let base = format!("http://127.0.0.1:{}", app.port());
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    let server = tokio::spawn(app.run_until_stopped(async move { stopped.cancelled().await }));

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get_text(&format!("{base}/readyz")).await;
        assert_eq!(status, 200, "{body}");
        let ready: serde_json::Value = serde_json::from_str(&body).expect("json");
        let support_up = ready["mailboxes"]["support"]["connected"] == serde_json::json!(true);
        let dead_reported = ready["mailboxes"]["dead"]["last_error"].is_string();
        if support_up && dead_reported {
            assert_eq!(
                ready["mailboxes"]["dead"]["connected"],
                serde_json::json!(false)
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "mailbox states not reported: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(get_text(&format!("{base}/healthz")).await.0, 200);
    let (_, metrics) = get_text(&format!("{base}/metrics")).await;
    assert!(
        metrics.contains("peyk_mailbox_connected{mailbox=\"support\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("peyk_mailbox_connected{mailbox=\"dead\"} 0"),
        "{metrics}"
    );
    assert!(metrics.contains("peyk_database_up 1"));

    stop.cancel();
    server.await.expect("join").expect("clean stop");
    db.cleanup().await;
}
