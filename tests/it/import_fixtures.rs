//! `peyk import` of the hand-written fixtures: Persian and English, new tickets, replies by tag
//! in three digit systems, by In-Reply-To, by References, a duplicate, replies to closed
//! tickets inside and outside the reopen window, a tag of another customer, a mistyped number,
//! legacy charsets, RFC 2231/2047 attachment names and hostile HTML.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::Duration;
use peyk::clock::{Clock, SystemClock};
use peyk::domain::digits::{to_arabic_indic_digits, to_persian_digits};
use peyk::domain::ticket::TicketStatus;
use peyk::domain::ticket_number::TicketNumber;
use peyk::store::{self, Store};

use crate::harness::{
    Backend, ImportRow, TestDb, backends, fixtures_dir, parse_import_output, run_peyk,
};

struct Expected {
    file: String,
    outcome: String,
    label: String,
    reason: String,
    phrase: String,
}

fn expected() -> Vec<Expected> {
    let text = std::fs::read_to_string(fixtures_dir().join("email/intake/EXPECTED.tsv"))
        .expect("EXPECTED.tsv");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            Expected {
                file: f[0].into(),
                outcome: f[1].into(),
                label: f[2].into(),
                reason: f[3].into(),
                phrase: f[4].into(),
            }
        })
        .collect()
}

/// Writes the fixture with `{{LABEL}}`, `{{LABEL:fa}}`, `{{LABEL:ar}}`, `{{LABEL:bad}}` replaced.
fn render_fixture(name: &str, numbers: &HashMap<String, String>, out_dir: &Path) -> PathBuf {
    let raw = std::fs::read(fixtures_dir().join("email/intake").join(name)).expect("fixture");
    let mut text = String::from_utf8_lossy(&raw).into_owned();
    let is_utf8 = std::str::from_utf8(&raw).is_ok();
    for (label, number) in numbers {
        let mistyped = TicketNumber::parse(number).expect("valid").mistyped();
        text = text
            .replace(&format!("{{{{{label}:fa}}}}"), &to_persian_digits(number))
            .replace(
                &format!("{{{{{label}:ar}}}}"),
                &to_arabic_indic_digits(number),
            )
            .replace(&format!("{{{{{label}:bad}}}}"), &mistyped)
            .replace(&format!("{{{{{label}}}}}"), number);
    }
    assert!(!text.contains("{{"), "{name}: a placeholder is left");
    let path = out_dir.join(name);
    // Files that are not UTF-8 (legacy charsets) have no placeholders: copy them byte for byte.
    if is_utf8 {
        std::fs::write(&path, text).expect("write");
    } else {
        std::fs::write(&path, raw).expect("write");
    }
    path
}

fn import(db: &TestDb, config: &Path, files: &[PathBuf]) -> Vec<ImportRow> {
    let mut args = vec![
        "import".to_string(),
        "--config".into(),
        config.display().to_string(),
    ];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run_peyk(&args, db.dir.path());
    assert!(
        output.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse_import_output(&output.stdout)
}

async fn close_ticket(store: &Store, number: &str, days_ago: i64) {
    let ticket = store::tickets::find_by_number(store.db(), number)
        .await
        .expect("db")
        .expect("ticket");
    store::tickets::set_status(
        store.db(),
        ticket.id,
        TicketStatus::Closed,
        None,
        "test",
        SystemClock.now() - Duration::days(days_ago),
    )
    .await
    .expect("close");
}

#[tokio::test]
async fn import_of_the_fixtures_threads_every_file_as_expected() {
    for backend in backends() {
        import_fixtures_on(backend).await;
    }
}

async fn import_fixtures_on(backend: Backend) {
    let db = TestDb::create(backend).await;
    let config = db.write_config("");
    let rendered_dir = db.dir.path().join("rendered");
    std::fs::create_dir_all(&rendered_dir).expect("mkdir");
    let expected = expected();
    let mut numbers: HashMap<String, String> = HashMap::new();
    let mut rows: Vec<ImportRow> = Vec::new();

    // Three runs: the first tickets; replies and more tickets; then, after closing A (a day ago)
    // and B (twenty days ago), the rest.
    let runs: [&[&str]; 3] = [
        &["01", "02"],
        &["03", "04", "05", "06", "07", "08", "09", "10"],
        &["11", "12", "13", "14", "15", "16"],
    ];
    for (run, prefixes) in runs.iter().enumerate() {
        if run == 2 {
            let store = db.store().await;
            close_ticket(&store, &numbers["A"], 1).await;
            close_ticket(&store, &numbers["B"], 20).await;
        }
        let files: Vec<PathBuf> = expected
            .iter()
            .filter(|e| prefixes.iter().any(|p| e.file.starts_with(p)))
            .map(|e| render_fixture(&e.file, &numbers, &rendered_dir))
            .collect();
        for row in import(&db, &config, &files) {
            let file = Path::new(&row.file)
                .file_name()
                .and_then(|f| f.to_str())
                .unwrap_or_default()
                .to_string();
            let exp = expected
                .iter()
                .find(|e| e.file == file)
                .expect("expected row");
            assert_eq!(
                row.outcome, exp.outcome,
                "{backend:?} {file}: outcome ({row:?})"
            );
            if exp.outcome == "new_ticket" && exp.reason != "duplicate" {
                assert!(
                    !numbers.contains_key(&exp.label),
                    "{file}: ticket {} is new",
                    exp.label
                );
                assert!(
                    TicketNumber::parse(&row.ticket).is_ok(),
                    "{file}: a valid number"
                );
                numbers.insert(exp.label.clone(), row.ticket.clone());
            } else {
                assert_eq!(
                    Some(&row.ticket),
                    numbers.get(&exp.label),
                    "{backend:?} {file}: ticket {}",
                    exp.label
                );
            }
            if exp.reason == "duplicate" {
                assert_eq!(row.reason, "duplicate", "{file}");
            }
            rows.push(row);
        }
    }
    assert_eq!(rows.len(), expected.len(), "one line per file");

    let store = db.store().await;
    let conn = store.db();
    assert_eq!(
        store::tickets::count_tickets(conn).await.expect("count"),
        9,
        "tickets A to I"
    );

    // Stored text: every phrase is in the message of its file, in the right ticket.
    for exp in expected.iter().filter(|e| e.phrase != "-") {
        let ticket = store::tickets::find_by_number(conn, &numbers[&exp.label])
            .await
            .expect("db")
            .expect("ticket");
        let messages = store::tickets::messages_of_ticket(conn, ticket.id)
            .await
            .expect("messages");
        assert!(
            messages.iter().any(|m| m.body_text.contains(&exp.phrase)),
            "{backend:?} {}: phrase {:?} not in ticket {}: {:?}",
            exp.file,
            exp.phrase,
            exp.label,
            messages.iter().map(|m| &m.body_text).collect::<Vec<_>>()
        );
    }

    let ticket = |label: &str| {
        let number = numbers[label].clone();
        async move {
            store::tickets::find_by_number(conn, &number)
                .await
                .expect("db")
                .expect("ticket")
        }
    };
    let a = ticket("A").await;
    let b = ticket("B").await;
    let messages_a = store::tickets::messages_of_ticket(conn, a.id)
        .await
        .expect("messages");
    let messages_b = store::tickets::messages_of_ticket(conn, b.id)
        .await
        .expect("messages");
    assert_eq!(messages_a.len(), 5, "A: 01, 03, 04, 07, 11");
    assert_eq!(messages_b.len(), 3, "B: 02, 05, 06 (08 is a duplicate)");
    assert_eq!(a.status, "open", "A reopened by a reply inside the window");
    assert!(a.closed_at.is_none());
    assert_eq!(
        b.status, "closed",
        "B stays closed: the late reply opened E"
    );

    let c = ticket("C").await;
    assert_ne!(
        c.customer_id, a.customer_id,
        "Mallory's message is not in Ali's ticket"
    );
    assert!(
        c.noted_reference
            .as_deref()
            .unwrap_or("")
            .contains(&numbers["A"]),
        "C records the reference: {:?}",
        c.noted_reference
    );
    let e = ticket("E").await;
    assert_eq!(e.follows_ticket_id, Some(b.id), "E follows the closed B");
    let f = ticket("F").await;
    assert!(
        f.noted_reference
            .as_deref()
            .unwrap_or("")
            .contains("not a valid number"),
        "{:?}",
        f.noted_reference
    );

    let d = ticket("D").await;
    assert!(
        d.subject.contains("هاست"),
        "windows-1256 subject decoded: {}",
        d.subject
    );
    let i = ticket("I").await;
    assert!(
        i.subject
            .chars()
            .any(|c| ('\u{0600}'..='\u{06FF}').contains(&c)),
        "raw UTF-8 subject kept: {}",
        i.subject
    );

    // Attachments with RFC 2231 and RFC 2047 names.
    let g = ticket("G").await;
    let g_message = &store::tickets::messages_of_ticket(conn, g.id)
        .await
        .expect("messages")[0];
    let attachments = store::tickets::attachments_of_message(conn, g_message.id)
        .await
        .expect("attachments");
    let names: Vec<&str> = attachments.iter().map(|a| a.filename.as_str()).collect();
    assert_eq!(names, vec!["فاکتور.pdf", "رسید.png"], "{backend:?}");
    assert!(
        attachments
            .iter()
            .all(|a| !a.refused && a.content.as_ref().map(|c| c.len() as i64) == Some(a.size))
    );

    // Hostile HTML is stored sanitized, and the text is there.
    let h = ticket("H").await;
    let h_message = &store::tickets::messages_of_ticket(conn, h.id)
        .await
        .expect("messages")[0];
    let html = h_message.body_html.clone().unwrap_or_default();
    assert!(html.contains("down since this morning"), "{html}");
    for bad in ["<script", "onerror", "javascript:"] {
        assert!(!html.to_lowercase().contains(bad), "{bad} survived: {html}");
    }
    assert!(
        h_message.raw_source.as_ref().is_some_and(|r| !r.is_empty()),
        "raw source kept"
    );

    // Every new ticket got one acknowledgement, carrying its tag and threading to the customer's message.
    let (items, total) = store::outbox::list(conn, None, 1, 100)
        .await
        .expect("outbox");
    assert_eq!(total, 9, "one acknowledgement per new ticket");
    for item in &items {
        assert_eq!(item.kind, "ticket_received");
        let ticket = store::tickets::snapshot_by_id(conn, item.ticket_id)
            .await
            .expect("db")
            .expect("ticket");
        assert!(
            item.subject
                .as_deref()
                .unwrap_or("")
                .starts_with(&format!("[#{}]", ticket.number))
        );
        assert!(
            item.message_id
                .as_deref()
                .unwrap_or("")
                .starts_with("<peyk.")
        );
    }
    let ack_a = items
        .iter()
        .find(|i| i.ticket_id == a.id)
        .expect("ack of A");
    assert_eq!(ack_a.in_reply_to.as_deref(), Some("<fa-new-1@example.ir>"));
    assert_eq!(ack_a.language, "fa");
    let ack_b = items
        .iter()
        .find(|i| i.ticket_id == b.id)
        .expect("ack of B");
    assert_eq!(ack_b.language, "en");

    // One receipt per distinct file (the duplicate made none).
    let (receipts, receipt_total) = store::inbound::list_receipts(conn, None, 1, 100)
        .await
        .expect("receipts");
    assert_eq!(
        receipt_total,
        15,
        "{:?}",
        receipts
            .iter()
            .map(|r| (&r.external_id, &r.outcome))
            .collect::<Vec<_>>()
    );

    db.cleanup().await;
}
