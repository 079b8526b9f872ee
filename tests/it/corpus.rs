//! Every message of the shared real-world corpus goes through intake: no panic, every file ends
//! as a ticket, a reply, or a receipt with a reason, and no text part is lost.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mail_parser::{MessageParser, PartType};
use peyk::import::{ImportTarget, import_files};
use peyk::store;

use crate::harness::{Backend, TestDb, backends, corpus_dir, system_clock};

fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read corpus dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if !matches!(
                path.file_name().and_then(|n| n.to_str()),
                Some("MANIFEST.md" | "categories.tsv")
            ) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn collapse(text: &str) -> String {
    peyk::inbound::email::parse::storable(text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The text parts mail-parser finds in the raw message, each whitespace-collapsed.
fn text_parts(raw: &[u8]) -> Vec<String> {
    let Some(message) = MessageParser::default().parse(raw) else {
        return Vec::new();
    };
    message
        .text_body
        .iter()
        .filter_map(|&id| message.parts.get(id as usize))
        .filter_map(|part| match &part.body {
            PartType::Text(t) => Some(t.to_string()),
            PartType::Html(h) => Some(mail_parser::decoders::html::html_to_text(h)),
            PartType::Binary(b) | PartType::InlineBinary(b) => {
                Some(String::from_utf8_lossy(b).into_owned())
            }
            _ => None,
        })
        .map(|t| collapse(&t))
        .filter(|t| !t.is_empty())
        .collect()
}

#[tokio::test]
async fn every_corpus_message_ends_as_a_ticket_a_reply_or_a_receipt_with_a_reason() {
    let Some(dir) = corpus_dir() else {
        eprintln!("corpus not found beside the checkout: skipped");
        return;
    };
    let files = corpus_files(&dir);
    assert!(files.len() >= 1800, "corpus has {} files", files.len());
    for backend in backends() {
        corpus_on(backend, &files).await;
    }
}

async fn corpus_on(backend: Backend, files: &[PathBuf]) {
    let db = TestDb::create(backend).await;
    let clock = system_clock();
    let (store, intake) = db.intake(clock.clone()).await;
    let settings = db.settings();
    let target = ImportTarget::new(&settings, None).expect("target");
    let mut out: Vec<u8> = Vec::new();
    let unreadable = import_files(
        &intake,
        clock.as_ref(),
        &target,
        files,
        settings.app.attachment_max_bytes,
        200,
        &mut out,
    )
    .await
    .expect("import");
    assert_eq!(unreadable, 0);
    let output = String::from_utf8(out).expect("utf-8 output");
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.len(), files.len(), "one line per file");

    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut lost: Vec<String> = Vec::new();
    for (line, path) in lines.iter().zip(files) {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 4, "{line}");
        let (outcome, ticket, reason) = (fields[1], fields[2], fields[3]);
        let key = if reason == "duplicate" {
            format!("{outcome} (duplicate)")
        } else {
            outcome.to_string()
        };
        *counts.entry(key).or_default() += 1;
        match outcome {
            "new_ticket" | "reply" => {
                assert_ne!(ticket, "-", "{line}");
                let row = store::tickets::find_by_number(store.db(), ticket)
                    .await
                    .expect("db")
                    .expect("ticket exists");
                let stored: String = store::tickets::messages_of_ticket(store.db(), row.id)
                    .await
                    .expect("messages")
                    .iter()
                    .map(|m| {
                        collapse(&format!(
                            "{} {}",
                            m.body_text,
                            m.quoted_text.as_deref().unwrap_or("")
                        ))
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
                let raw = std::fs::read(path).expect("read");
                for part in text_parts(&raw) {
                    if !stored.contains(&part) {
                        lost.push(format!("{}: {:.80}", path.display(), part));
                    }
                }
            }
            "ignored" | "bounce" | "error" => {
                assert_eq!(ticket, "-", "{line}");
                if outcome != "bounce" {
                    assert_ne!(reason, "-", "a receipt says why: {line}");
                }
            }
            other => panic!("unknown outcome {other}: {line}"),
        }
    }
    assert!(
        lost.is_empty(),
        "{backend:?}: {} text parts lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );

    // Nothing is lost for what was not ticketed either: each such receipt keeps the raw source.
    let (receipts, _) = store::inbound::list_receipts(store.db(), None, 1, 10_000)
        .await
        .expect("receipts");
    for receipt in receipts
        .iter()
        .filter(|r| matches!(r.outcome.as_str(), "ignored" | "bounce" | "error"))
    {
        // An empty file has nothing to keep (SQLite may read a zero-length blob back as NULL).
        if receipt.reason.as_deref() != Some("empty file") {
            assert!(
                receipt.raw_source.as_ref().is_some_and(|r| !r.is_empty()),
                "raw kept for {} ({} {:?})",
                receipt.external_id,
                receipt.outcome,
                receipt.reason
            );
        }
    }
    let by_reason: BTreeMap<String, usize> = receipts.iter().fold(BTreeMap::new(), |mut acc, r| {
        let reason = match (r.outcome.as_str(), r.reason.as_deref()) {
            ("new_ticket" | "reply", Some(_)) => "with a note",
            (_, Some(reason)) => reason,
            (_, None) => "-",
        };
        *acc.entry(format!("{}: {reason}", r.outcome)).or_default() += 1;
        acc
    });
    println!(
        "corpus on {backend:?}: {} files; per outcome {counts:?}; receipts per outcome and reason {by_reason:?}",
        files.len()
    );
    db.cleanup().await;
}
