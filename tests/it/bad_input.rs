//! Bad input through `peyk import`: an empty file, a truncated message, a binary file, a 50 MB
//! message and a missing file each get a line (error or a receipt), never a panic, never a
//! half-written ticket.

use std::io::Write;

use peyk::store;

use crate::harness::{Backend, TestDb, backends, fixtures_dir, parse_import_output, run_peyk};

fn write_fifty_megabyte_message(path: &std::path::Path) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    write!(
        file,
        "From: Big Sender <big@example.com>\r\nTo: support@peyk.example\r\nSubject: Logs of the outage\r\nMessage-ID: <fifty-mb@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BIG\"\r\n\r\n--BIG\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe full server logs are attached.\r\n--BIG\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"logs.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    .expect("write");
    let line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n";
    let lines = 50 * 1024 * 1024 / line.len() + 1;
    for _ in 0..lines {
        file.write_all(line.as_bytes()).expect("write");
    }
    file.write_all(b"--BIG--\r\n").expect("write");
}

#[tokio::test]
async fn bad_input_gets_a_line_and_a_receipt_never_a_panic() {
    for backend in backends() {
        bad_input_on(backend).await;
    }
}

async fn bad_input_on(backend: Backend) {
    let db = TestDb::create(backend).await;
    let config = db.write_config("");
    let dir = db.dir.path();
    let empty = dir.join("empty.eml");
    std::fs::write(&empty, b"").expect("write");
    let truncated = dir.join("truncated.eml");
    let whole = std::fs::read(fixtures_dir().join("email/intake/14-fa-iso-8859-6-attachments.eml"))
        .expect("fixture");
    std::fs::write(&truncated, &whole[..whole.len() * 2 / 3]).expect("write");
    let headers_only = dir.join("cut-in-headers.eml");
    std::fs::write(
        &headers_only,
        b"From: Cut <cut@example.com>\r\nSubject: =?UTF-8?B?2YLYt9i5",
    )
    .expect("write");
    let binary = dir.join("binary.eml");
    let bytes: Vec<u8> = (0..65_536u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&binary, bytes).expect("write");
    let big = dir.join("fifty-megabytes.eml");
    write_fifty_megabyte_message(&big);
    let missing = dir.join("does-not-exist.eml");

    let files = [&empty, &truncated, &headers_only, &binary, &big, &missing];
    let mut args = vec![
        "import".to_string(),
        "--config".into(),
        config.display().to_string(),
    ];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run_peyk(&args, dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        output.status.code(),
        Some(2),
        "a file that cannot be read makes the exit status 2: {stderr}"
    );
    let rows = parse_import_output(&output.stdout);
    assert_eq!(rows.len(), files.len(), "one line per file: {rows:?}");
    let row = |name: &str| {
        rows.iter()
            .find(|r| r.file.ends_with(name))
            .unwrap_or_else(|| panic!("{name} in {rows:?}"))
            .clone()
    };

    assert_eq!(row("empty.eml").outcome, "error");
    assert_eq!(row("empty.eml").reason, "empty file");
    assert_eq!(
        row("binary.eml").outcome,
        "error",
        "{:?}",
        row("binary.eml")
    );
    assert_eq!(row("does-not-exist.eml").outcome, "error");
    assert!(
        row("does-not-exist.eml")
            .reason
            .starts_with("cannot read file")
    );
    assert!(
        ["new_ticket", "error"].contains(&row("truncated.eml").outcome.as_str()),
        "{:?}",
        row("truncated.eml")
    );
    assert!(
        ["new_ticket", "error", "ignored"].contains(&row("cut-in-headers.eml").outcome.as_str())
    );
    let big_row = row("fifty-megabytes.eml");
    assert_eq!(big_row.outcome, "new_ticket", "{big_row:?}");

    let store = db.store().await;
    let conn = store.db();
    // The big attachment is refused with its reason; the text is kept.
    let ticket = store::tickets::find_by_number(conn, &big_row.ticket)
        .await
        .expect("db")
        .expect("ticket");
    let messages = store::tickets::messages_of_ticket(conn, ticket.id)
        .await
        .expect("messages");
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0]
            .body_text
            .contains("The full server logs are attached.")
    );
    let attachments = store::tickets::attachments_of_message(conn, messages[0].id)
        .await
        .expect("attachments");
    assert_eq!(attachments.len(), 1);
    assert!(attachments[0].refused);
    assert!(attachments[0].content.is_none());
    assert!(attachments[0].size > 10 * 1024 * 1024);
    assert!(
        attachments[0]
            .refused_reason
            .as_deref()
            .unwrap_or("")
            .contains("over the limit")
    );

    // Every error line has an error receipt with the raw bytes (except the missing file, which has no bytes).
    let (receipts, _) = store::inbound::list_receipts(conn, Some("error"), 1, 100)
        .await
        .expect("receipts");
    let error_lines = rows
        .iter()
        .filter(|r| r.outcome == "error" && !r.file.ends_with("does-not-exist.eml"))
        .count();
    assert_eq!(receipts.len(), error_lines, "{receipts:?}");
    assert!(
        receipts
            .iter()
            .all(|r| r.reason.is_some() && r.raw_source.is_some() && r.ticket_id.is_none())
    );

    // No half-written ticket: every ticket has a message and a receipt.
    let tickets = store::tickets::count_tickets(conn).await.expect("count");
    let (all_receipts, _) = store::inbound::list_receipts(conn, None, 1, 100)
        .await
        .expect("receipts");
    let ticketed = all_receipts
        .iter()
        .filter(|r| r.ticket_id.is_some())
        .count() as u64;
    assert_eq!(tickets, ticketed);
    db.cleanup().await;
}
