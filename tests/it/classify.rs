//! Classification of realistic mail (fixtures/email/classify): auto-replies of Outlook, Gmail,
//! Yandex, cPanel, Zimbra, vacation(1) and procmail, subjects in English and Persian, a list
//! post, Peyk's own mail, Postfix, Exchange and qmail bounces, and two people. Each file ends as
//! EXPECTED.tsv says; what is not a person makes no ticket and no outbox row, and a bounce's
//! receipt names the bounced recipient and status.

use std::path::PathBuf;

use peyk::clock::Clock;
use peyk::import::{ImportTarget, import_files};
use peyk::inbound::email::parse_email;
use peyk::intake::Intake;
use peyk::store::{self, Store};

use crate::harness::{
    Backend, ImportRow, TestDb, backends, fixtures_dir, parse_import_output, system_clock,
};

#[derive(Debug, Clone)]
struct Expected {
    file: String,
    outcome: String,
    reason: Option<String>,
    bounced_recipient: Option<String>,
    bounce_status: Option<String>,
}

fn dir() -> PathBuf {
    fixtures_dir().join("email/classify")
}

fn field(value: &str) -> Option<String> {
    (value != "-").then(|| value.to_string())
}

fn expected() -> Vec<Expected> {
    let text = std::fs::read_to_string(dir().join("EXPECTED.tsv")).expect("EXPECTED.tsv");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("file\toutcome\treason\tbounced_recipient\tbounce_status")
    );
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 5, "EXPECTED.tsv line has 5 fields: {line:?}");
            Expected {
                file: f[0].into(),
                outcome: f[1].into(),
                reason: field(f[2]),
                bounced_recipient: field(f[3]),
                bounce_status: field(f[4]),
            }
        })
        .collect()
}

#[test]
fn every_fixture_has_one_expectation() {
    let mut files: Vec<String> = std::fs::read_dir(dir())
        .expect("fixtures/email/classify")
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|name| name.ends_with(".eml"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = expected().into_iter().map(|e| e.file).collect();
    listed.sort();
    assert_eq!(files, listed);
    for e in expected() {
        let prefix = match e.outcome.as_str() {
            "ignored" => match e.reason.as_deref() {
                Some("autoreply") => "autoreply-",
                Some("list") => "list-",
                Some("own_address") => "own-address-",
                other => panic!("{}: unexpected reason {other:?}", e.file),
            },
            "bounce" => "bounce-",
            "new_ticket" => "person-",
            other => panic!("{}: unexpected outcome {other}", e.file),
        };
        assert!(
            e.file.starts_with(prefix),
            "{} is named by its outcome",
            e.file
        );
    }
}

#[tokio::test]
async fn realistic_auto_replies_lists_own_mail_and_bounces_make_no_ticket() {
    for backend in backends() {
        classify_on(backend).await;
    }
}

async fn import(
    intake: &Intake,
    clock: &dyn Clock,
    target: &ImportTarget,
    files: &[&Expected],
) -> Vec<ImportRow> {
    let paths: Vec<PathBuf> = files.iter().map(|e| dir().join(&e.file)).collect();
    let mut out: Vec<u8> = Vec::new();
    let unreadable = import_files(
        intake,
        clock,
        target,
        &paths,
        10 * 1024 * 1024,
        200,
        &mut out,
    )
    .await
    .expect("import");
    assert_eq!(unreadable, 0);
    let rows = parse_import_output(&out);
    assert_eq!(rows.len(), files.len(), "one line per file");
    rows
}

/// The file name of an import line.
fn file_of(row: &ImportRow) -> String {
    PathBuf::from(&row.file)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string()
}

async fn outbox_rows(store: &Store) -> u64 {
    store::outbox::list(store.db(), None, 1, 100)
        .await
        .expect("outbox")
        .1
}

async fn classify_on(backend: Backend) {
    let db = TestDb::create(backend).await;
    let clock = system_clock();
    let (store, intake) = db.intake(clock.clone()).await;
    let settings = db.settings();
    let target = ImportTarget::new(&settings, None).expect("target");
    let expected = expected();
    let (people, others): (Vec<&Expected>, Vec<&Expected>) =
        expected.iter().partition(|e| e.outcome == "new_ticket");
    assert!(!people.is_empty() && !others.is_empty());

    // Everything that is not a person first: no ticket, no notification.
    let mut mismatches: Vec<String> = Vec::new();
    for row in import(&intake, clock.as_ref(), &target, &others).await {
        let file = file_of(&row);
        let e = others
            .iter()
            .find(|e| e.file == file)
            .unwrap_or_else(|| panic!("{file} expected"));
        let reason = field(&row.reason);
        if row.outcome != e.outcome || reason != e.reason || row.ticket != "-" {
            mismatches.push(format!(
                "{file}: got {} {} {:?}, expected {} - {:?}",
                row.outcome, row.ticket, reason, e.outcome, e.reason
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{backend:?}:\n{}",
        mismatches.join("\n")
    );
    assert_eq!(
        store::tickets::count_tickets(store.db())
            .await
            .expect("count"),
        0,
        "{backend:?}: no ticket for auto-replies, list posts, own mail and bounces"
    );
    assert_eq!(
        outbox_rows(&store).await,
        0,
        "{backend:?}: nobody is notified of auto-replies, list posts, own mail or bounces"
    );

    let (receipts, _) = store::inbound::list_receipts(store.db(), None, 1, 1000)
        .await
        .expect("receipts");
    assert_eq!(receipts.len(), others.len());
    for e in &others {
        let raw = std::fs::read(dir().join(&e.file)).expect("fixture");
        let external_id = parse_email(&raw, &target.source, None, 1024, clock.now()).external_id;
        let receipt = receipts
            .iter()
            .find(|r| r.source == target.source && r.external_id == external_id)
            .unwrap_or_else(|| panic!("{backend:?}: receipt of {} ({external_id})", e.file));
        assert_eq!(receipt.outcome, e.outcome, "{}", e.file);
        assert_eq!(receipt.reason, e.reason, "{}", e.file);
        assert_eq!(receipt.ticket_id, None, "{}", e.file);
        assert_eq!(receipt.message_id, None, "{}", e.file);
        assert_eq!(
            (
                receipt.bounced_recipient.as_deref(),
                receipt.bounce_status.as_deref()
            ),
            (e.bounced_recipient.as_deref(), e.bounce_status.as_deref()),
            "{backend:?}: bounce fields of {}",
            e.file
        );
        assert_eq!(
            receipt.raw_source.as_deref(),
            Some(raw.as_slice()),
            "{}: the raw message is kept",
            e.file
        );
    }

    // People: a ticket each, and one acknowledgement each.
    for row in import(&intake, clock.as_ref(), &target, &people).await {
        let file = file_of(&row);
        assert_eq!(
            (row.outcome.as_str(), row.reason.as_str()),
            ("new_ticket", "-"),
            "{backend:?}: {file} is a person"
        );
        let ticket = store::tickets::find_by_number(store.db(), &row.ticket)
            .await
            .expect("db")
            .unwrap_or_else(|| panic!("{file}: ticket {} exists", row.ticket));
        let outbox = store::outbox::of_ticket(store.db(), ticket.id)
            .await
            .expect("outbox");
        assert_eq!(outbox.len(), 1, "{file}: one acknowledgement");
    }
    assert_eq!(
        store::tickets::count_tickets(store.db())
            .await
            .expect("count"),
        people.len() as u64
    );
    assert_eq!(outbox_rows(&store).await, people.len() as u64);
    db.cleanup().await;
}
