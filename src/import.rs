//! `peyk import`: saved messages through the same intake path as the IMAP poller, one output
//! line per file: `FILE<TAB>OUTCOME<TAB>TICKET<TAB>REASON`.

use std::io::Write;
use std::path::PathBuf;

use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::ticket::Channel;
use crate::inbound::email::parse_email;
use crate::intake::{InboundItem, Intake, IntakeError, IntakeResult, UnreadableItem};

/// One imported file and what became of it.
#[derive(Debug, Clone)]
pub struct ImportLine {
    pub file: String,
    pub outcome: String,
    pub ticket: Option<String>,
    pub reason: Option<String>,
}

impl ImportLine {
    pub fn render(&self) -> String {
        let field = |s: Option<&str>| {
            s.filter(|s| !s.is_empty())
                .map(one_line)
                .unwrap_or_else(|| "-".into())
        };
        format!(
            "{}\t{}\t{}\t{}",
            one_line(&self.file),
            self.outcome,
            field(self.ticket.as_deref()),
            field(self.reason.as_deref())
        )
    }

    fn from_result(file: String, result: IntakeResult) -> Self {
        let reason = if result.duplicate {
            Some("duplicate".to_string())
        } else {
            result.reason
        };
        Self {
            file,
            outcome: result.outcome.as_str().to_string(),
            ticket: result.ticket_number,
            reason,
        }
    }
}

fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c == '\t' || c.is_control() { ' ' } else { c })
        .collect()
}

/// Where imported files count as arriving.
pub struct ImportTarget {
    pub source: String,
    pub department: Option<String>,
}

impl ImportTarget {
    pub fn new(settings: &Settings, mailbox: Option<&str>) -> Result<Self, String> {
        match mailbox {
            None => Ok(Self {
                source: "import".into(),
                department: None,
            }),
            Some(key) => {
                let mailbox = settings.mailbox(key).ok_or_else(|| {
                    format!("--mailbox {key}: no [[mailboxes]] entry has key = {key:?}")
                })?;
                Ok(Self {
                    source: mailbox.key.clone(),
                    department: mailbox.department.clone(),
                })
            }
        }
    }
}

/// Imports `files` in batches of `batch_size` (one commit per batch), writing each line to
/// `out` as soon as its batch is committed. Returns how many files could not be read at all.
pub async fn import_files(
    intake: &Intake,
    clock: &dyn Clock,
    target: &ImportTarget,
    files: &[PathBuf],
    attachment_max_bytes: u64,
    batch_size: usize,
    out: &mut impl Write,
) -> Result<usize, IntakeError> {
    let mut unreadable_files = 0;
    for chunk in files.chunks(batch_size.max(1)) {
        let mut lines: Vec<Option<ImportLine>> = Vec::with_capacity(chunk.len());
        let mut items = Vec::with_capacity(chunk.len());
        for path in chunk {
            let file = path.display().to_string();
            match std::fs::read(path) {
                Err(e) => {
                    unreadable_files += 1;
                    lines.push(Some(ImportLine {
                        file,
                        outcome: "error".into(),
                        ticket: None,
                        reason: Some(format!("cannot read file: {e}")),
                    }));
                }
                Ok(raw) => {
                    let parsed = parse_email(
                        &raw,
                        &target.source,
                        target.department.as_deref(),
                        attachment_max_bytes,
                        clock.now(),
                    );
                    let item = match parsed.result {
                        Ok(message) => InboundItem::Parsed(Box::new(message)),
                        Err(error) => InboundItem::Unreadable(UnreadableItem {
                            channel: Channel::Email,
                            source: target.source.clone(),
                            external_id: parsed.external_id,
                            content_hash: parsed.content_hash,
                            reason: error.to_string(),
                            raw,
                            received_at: clock.now(),
                        }),
                    };
                    items.push((file, item));
                    lines.push(None);
                }
            }
        }
        let (names, batch): (Vec<String>, Vec<InboundItem>) = items.into_iter().unzip();
        let results = intake.ingest_batch(batch).await?;
        let mut results = names
            .into_iter()
            .zip(results)
            .map(|(file, result)| ImportLine::from_result(file, result));
        for line in lines {
            let line = match line {
                Some(line) => Some(line),
                None => results.next(),
            };
            if let Some(line) = line {
                let _ = writeln!(out, "{}", line.render());
            }
        }
        let _ = out.flush();
    }
    Ok(unreadable_files)
}
