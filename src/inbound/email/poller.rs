//! One poller per `[[mailboxes]]` entry: take every message exactly once.
//!
//! Each connection starts with a full sync: SELECT, compare UIDVALIDITY with the stored one,
//! `UID SEARCH` everything above the last committed UID (seen or not), fetch and commit in
//! batches. The mailbox position is stored in the same transaction as the batch, and the
//! mailbox is changed (\Seen, or MOVE to `processed_folder`) only after the commit. Then IDLE
//! (or sleep) until something changes, and sync again. A UIDVALIDITY change resyncs from UID 1;
//! the receipts (Message-ID plus content) skip what is already stored. Errors end the
//! connection; `run` reconnects with capped exponential backoff and never gives up.

use std::time::Duration;

use futures::TryStreamExt;
use tokio_util::sync::CancellationToken;

use super::connect::{ConnectError, ImapSession, connect};
use super::monitor::MailboxMonitor;
use super::parse::parse_email;
use crate::clock::SharedClock;
use crate::config::MailboxSettings;
use crate::domain::ticket::Channel;
use crate::intake::{InboundItem, Intake, IntakeError, MailboxCheckpoint, UnreadableItem};
use crate::store::{self, DbErr};

const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("IMAP: {0}")]
    Imap(#[from] async_imap::error::Error),
    #[error("the server gave no UIDVALIDITY for {0}")]
    NoUidValidity(String),
    #[error("storing failed: {0}")]
    Intake(#[from] IntakeError),
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub uid_validity: u32,
    pub resynced: bool,
    pub committed: usize,
}

pub struct MailboxPoller {
    settings: MailboxSettings,
    intake: Intake,
    clock: SharedClock,
    monitor: MailboxMonitor,
    batch_size: usize,
    attachment_max_bytes: u64,
}

impl MailboxPoller {
    pub fn new(
        settings: MailboxSettings,
        intake: Intake,
        clock: SharedClock,
        monitor: MailboxMonitor,
        batch_size: usize,
        attachment_max_bytes: u64,
    ) -> Self {
        Self {
            settings,
            intake,
            clock,
            monitor,
            batch_size: batch_size.max(1),
            attachment_max_bytes,
        }
    }

    pub fn key(&self) -> &str {
        &self.settings.key
    }

    /// Connects, syncs and waits for mail until `cancel`; reconnects after any failure.
    pub async fn run(self, cancel: CancellationToken) {
        let mut backoff = BACKOFF_START;
        let mut first_connection = true;
        while !cancel.is_cancelled() {
            if !first_connection {
                self.monitor
                    .update(&self.settings.key, |s| s.reconnects += 1);
            }
            first_connection = false;
            let ended = self.connection(&cancel).await;
            self.monitor
                .update(&self.settings.key, |s| s.connected = false);
            if cancel.is_cancelled() {
                break;
            }
            match ended {
                Ok(()) => {
                    tracing::info!(mailbox = %self.settings.key, "the server ended the connection; reconnecting");
                    backoff = BACKOFF_START;
                }
                Err(error) => {
                    tracing::warn!(mailbox = %self.settings.key, %error, retry_in_ms = backoff.as_millis() as u64, "mailbox connection failed");
                    self.monitor.update(&self.settings.key, |s| {
                        s.last_error = Some(error.to_string())
                    });
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        self.monitor
            .update(&self.settings.key, |s| s.connected = false);
    }

    /// One connection's life: login, sync, then IDLE or sleep and sync again, until cancelled
    /// (Ok) or an error (Err).
    async fn connection(&self, cancel: &CancellationToken) -> Result<(), PollError> {
        let mut session = connect(&self.settings).await?;
        self.prepare(&mut session).await?;
        self.monitor
            .update(&self.settings.key, |s| s.connected = true);
        let idle = self.settings.idle && session.capabilities().await?.has_str("IDLE");
        let interval = Duration::from_secs(self.settings.poll_interval_secs);
        loop {
            self.sync(&mut session).await?;
            if cancel.is_cancelled() {
                break;
            }
            if idle {
                let mut handle = session.idle();
                handle.init().await?;
                {
                    let (wait, stop) = handle.wait_with_timeout(interval);
                    tokio::select! {
                        response = wait => { response?; }
                        _ = cancel.cancelled() => {}
                    }
                    drop(stop);
                }
                session = handle.done().await?;
            } else {
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = tokio::time::sleep(interval) => {}
                }
            }
            if cancel.is_cancelled() {
                break;
            }
        }
        let _ = session.logout().await;
        Ok(())
    }

    /// Fetches and commits everything above the last committed UID, in batches.
    pub async fn sync(&self, session: &mut ImapSession) -> Result<SyncReport, PollError> {
        let key = self.settings.key.clone();
        let mailbox = session.select(&self.settings.folder).await?;
        let uid_validity = mailbox
            .uid_validity
            .ok_or_else(|| PollError::NoUidValidity(self.settings.folder.clone()))?;
        let state = store::inbound::mailbox_state(self.intake.store().db(), &key).await?;
        let (last_uid, resynced) = match state {
            Some(s) if s.uid_validity == i64::from(uid_validity) => {
                (u32::try_from(s.last_uid).unwrap_or(0), false)
            }
            Some(s) => {
                tracing::info!(mailbox = %key, old = s.uid_validity, new = uid_validity, "UIDVALIDITY changed: resyncing the whole folder");
                (0, true)
            }
            None => (0, false),
        };
        let mut uids: Vec<u32> = session
            .uid_search(format!("UID {}:*", last_uid.saturating_add(1)))
            .await?
            .into_iter()
            .filter(|uid| *uid > last_uid)
            .collect();
        uids.sort_unstable();
        self.monitor.update(&key, |s| s.backlog = uids.len() as u64);

        // While one batch is being committed, the next is fetched and parsed.
        let chunks: Vec<&[u32]> = uids.chunks(self.batch_size).collect();
        let mut committed = 0;
        let mut next_items = match chunks.first() {
            Some(first) => Some(self.fetch_items(session, first).await?),
            None => None,
        };
        for (index, chunk) in chunks.iter().enumerate() {
            let items = next_items.take().unwrap_or_default();
            let count = items.len();
            let checkpoint = MailboxCheckpoint {
                mailbox_key: key.clone(),
                uid_validity,
                last_uid: chunk.iter().copied().max().unwrap_or(last_uid),
            };
            let commit = self.intake.ingest_batch_at(items, Some(checkpoint));
            match chunks.get(index + 1) {
                Some(next) => {
                    let (committed_batch, fetched_next) =
                        tokio::join!(commit, self.fetch_items(session, next));
                    committed_batch?;
                    next_items = Some(fetched_next?);
                }
                None => {
                    commit.await?;
                }
            }
            committed += count;
            // Only now, after the commit, is the mailbox changed.
            self.mark_processed(session, &uid_set(chunk)).await?;
            let now = self.clock.now();
            self.monitor.update(&key, |s| {
                s.backlog = s.backlog.saturating_sub(chunk.len() as u64);
                s.ingested += count as u64;
                s.last_success_at = Some(now);
            });
        }
        let now = self.clock.now();
        self.monitor.update(&key, |s| {
            s.last_success_at = Some(now);
            s.last_error = None;
        });
        Ok(SyncReport {
            uid_validity,
            resynced,
            committed,
        })
    }

    /// Fetches the messages of `uids` (a UID that another client expunged meanwhile is simply
    /// not returned) and parses them.
    async fn fetch_items(
        &self,
        session: &mut ImapSession,
        uids: &[u32],
    ) -> Result<Vec<InboundItem>, PollError> {
        let fetched: Vec<Vec<u8>> = session
            .uid_fetch(uid_set(uids), "(UID BODY.PEEK[])")
            .await?
            .try_filter_map(|fetch| async move { Ok(fetch.body().map(<[u8]>::to_vec)) })
            .try_collect()
            .await?;
        Ok(fetched.iter().map(|raw| self.item(raw)).collect())
    }

    fn item(&self, raw: &[u8]) -> InboundItem {
        let now = self.clock.now();
        let parsed = parse_email(
            raw,
            &self.settings.key,
            self.settings.department.as_deref(),
            self.attachment_max_bytes,
            now,
        );
        match parsed.result {
            Ok(message) => InboundItem::Parsed(Box::new(message)),
            Err(error) => InboundItem::Unreadable(UnreadableItem {
                channel: Channel::Email,
                source: self.settings.key.clone(),
                external_id: parsed.external_id,
                content_hash: parsed.content_hash,
                reason: error.to_string(),
                raw: raw.to_vec(),
                received_at: now,
            }),
        }
    }

    /// \Seen by default; with `processed_folder`, MOVE there (or COPY + \Deleted + EXPUNGE).
    async fn mark_processed(&self, session: &mut ImapSession, set: &str) -> Result<(), PollError> {
        match &self.settings.processed_folder {
            None => {
                session
                    .uid_store(set, "+FLAGS.SILENT (\\Seen)")
                    .await?
                    .try_collect::<Vec<_>>()
                    .await?;
            }
            Some(folder) => {
                let capabilities = session.capabilities().await?;
                if capabilities.has_str("MOVE") {
                    session.uid_mv(set, folder).await?;
                } else {
                    session.uid_copy(set, folder).await?;
                    session
                        .uid_store(set, "+FLAGS.SILENT (\\Deleted)")
                        .await?
                        .try_collect::<Vec<_>>()
                        .await?;
                    if capabilities.has_str("UIDPLUS") {
                        session
                            .uid_expunge(set)
                            .await?
                            .try_collect::<Vec<_>>()
                            .await?;
                    } else {
                        session.expunge().await?.try_collect::<Vec<_>>().await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Creates `processed_folder` when it is configured and missing.
    pub async fn prepare(&self, session: &mut ImapSession) -> Result<(), PollError> {
        if let Some(folder) = &self.settings.processed_folder {
            let exists = session
                .list(None, Some(folder))
                .await?
                .try_collect::<Vec<_>>()
                .await?;
            if exists.is_empty() {
                session.create(folder).await?;
            }
        }
        Ok(())
    }
}

/// A compact UID set: sorted UIDs as ranges, `1:3,7,9:12`.
pub fn uid_set(sorted_uids: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = sorted_uids.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::uid_set;

    #[test]
    fn uid_sets_are_compact_ranges() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10, 11, 12]), "1:3,7,9:12");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[]), "");
    }
}
