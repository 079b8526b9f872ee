//! Classify, thread, persist: the one door from `inbound/` into the store.
//!
//! Each item is written in one transaction with everything it causes: its receipt, the
//! customer, the ticket and message (with attachments), status changes and events, and the
//! notifications in the outbox. A batch shares one transaction (one durable commit); when an
//! item fails, the batch is run again with a savepoint per item, so the bad item becomes an
//! `error` receipt without spoiling the rest. A batch of plain SMS (the webhooks' group
//! commits) is stored set at a time, a few statements for the whole batch, with the same
//! outcome as item by item ([`sms_batch`]).

mod acknowledge;
mod flood;
pub mod group_commit;
mod receipts;
mod sms_batch;
mod ticketing;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{DatabaseTransaction, TransactionTrait};
use tokio::sync::Notify;

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::domain::classify::{Classification, ClassifyInput, IgnoreReason, classify};
use crate::domain::contact::EmailAddress;
use crate::domain::message::InboundMessage;
use crate::domain::threading::ThreadPolicy;
use crate::domain::ticket::{Channel, Language};
use crate::store::{self, DbErr, Store};

pub use acknowledge::new_message_id;

/// What became of an inbound item; the spellings are the contract's receipt outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntakeOutcome {
    NewTicket,
    Reply,
    Ignored,
    Bounce,
    Error,
}

impl IntakeOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            IntakeOutcome::NewTicket => "new_ticket",
            IntakeOutcome::Reply => "reply",
            IntakeOutcome::Ignored => "ignored",
            IntakeOutcome::Bounce => "bounce",
            IntakeOutcome::Error => "error",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::NewTicket,
            Self::Reply,
            Self::Ignored,
            Self::Bounce,
            Self::Error,
        ]
        .into_iter()
        .find(|o| o.as_str() == text)
    }
}

/// The answer for one item. `duplicate` is true when the item was seen before: then nothing
/// was stored and the first outcome is repeated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeResult {
    pub outcome: IntakeOutcome,
    pub ticket_number: Option<String>,
    pub reason: Option<String>,
    pub duplicate: bool,
}

/// An item for intake: parsed, or a failure at the edge that still needs its receipt.
#[derive(Debug, Clone)]
pub enum InboundItem {
    Parsed(Box<InboundMessage>),
    Unreadable(UnreadableItem),
}

/// An inbound item the channel could not parse, kept whole with the reason.
#[derive(Debug, Clone)]
pub struct UnreadableItem {
    pub channel: Channel,
    pub source: String,
    pub external_id: String,
    pub content_hash: String,
    pub reason: String,
    pub raw: Vec<u8>,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error("intake returned no result")]
    NoResult,
}

/// What intake needs from the settings, resolved once.
#[derive(Debug, Clone)]
pub struct IntakeRules {
    pub own_addresses: Vec<EmailAddress>,
    pub thread_policy: ThreadPolicy,
    pub default_language: Language,
    /// Domain for generated Message-IDs (the no-reply sender's).
    pub message_id_domain: String,
    /// New tickets one sender may open per hour before flood control (0: no limit).
    pub new_tickets_per_sender_per_hour: u32,
}

impl IntakeRules {
    pub fn from_settings(settings: &Settings) -> Self {
        let from = crate::config::sender_address(&settings.notify.from);
        Self {
            own_addresses: settings.own_addresses(),
            thread_policy: ThreadPolicy {
                reopen_window: Duration::days(i64::from(settings.intake.reopen_window_days)),
                sms_reply_window: Duration::days(i64::from(settings.intake.sms_reply_window_days)),
            },
            default_language: settings.app.default_language,
            message_id_domain: from
                .map(|f| f.domain().to_string())
                .unwrap_or_else(|| "peyk.invalid".into()),
            new_tickets_per_sender_per_hour: settings.intake.new_tickets_per_sender_per_hour,
        }
    }
}

/// A mailbox position to store in the same transaction as the items fetched up to it, so a
/// crash can never commit one without the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxCheckpoint {
    pub mailbox_key: String,
    pub uid_validity: u32,
    pub last_uid: u32,
}

#[derive(Clone)]
pub struct Intake {
    store: Store,
    rules: IntakeRules,
    clock: SharedClock,
    outbox_wakeup: Arc<Notify>,
    flood: Option<Arc<flood::FloodGuard>>,
}

impl Intake {
    pub fn new(store: Store, rules: IntakeRules, clock: SharedClock) -> Self {
        let rules_flood_limit = rules.new_tickets_per_sender_per_hour;
        Self {
            store,
            rules,
            clock,
            outbox_wakeup: Arc::new(Notify::new()),
            flood: flood::FloodGuard::new(rules_flood_limit).map(Arc::new),
        }
    }

    /// Poked after every commit that enqueued a notification.
    pub fn outbox_wakeup(&self) -> Arc<Notify> {
        self.outbox_wakeup.clone()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub async fn ingest(&self, item: InboundItem) -> Result<IntakeResult, IntakeError> {
        let mut results = self.ingest_batch(vec![item]).await?;
        results.pop().ok_or(IntakeError::NoResult)
    }

    /// Ingests items in one transaction with one commit.
    pub async fn ingest_batch(
        &self,
        items: Vec<InboundItem>,
    ) -> Result<Vec<IntakeResult>, IntakeError> {
        self.ingest_batch_at(items, None).await
    }

    /// Ingests items and stores `checkpoint` in the same transaction.
    ///
    /// The batch is first tried straight through. If any item fails, the transaction is rolled
    /// back and the batch is run again with a savepoint per item, so the failing item becomes
    /// an `error` receipt (its raw source kept) and the others are stored.
    pub async fn ingest_batch_at(
        &self,
        items: Vec<InboundItem>,
        checkpoint: Option<MailboxCheckpoint>,
    ) -> Result<Vec<IntakeResult>, IntakeError> {
        match self
            .run_batch(&items, checkpoint.as_ref(), Pass::Whole)
            .await
        {
            Ok(results) => Ok(results),
            Err(cause) => {
                tracing::warn!(error = %cause, items = items.len(), "batch failed; storing its items one savepoint each");
                self.run_batch(&items, checkpoint.as_ref(), Pass::Isolated)
                    .await
            }
        }
    }

    /// As [`Intake::ingest_batch`] without the retry one savepoint per item, so a batch that
    /// fails (e.g. a plain SMS batch's statements) fails here: for checks of that path.
    #[doc(hidden)]
    pub async fn ingest_batch_without_retry(
        &self,
        items: Vec<InboundItem>,
    ) -> Result<Vec<IntakeResult>, IntakeError> {
        self.run_batch(&items, None, Pass::Whole).await
    }

    /// As [`Intake::ingest_batch`], always one item after the other (never the set-at-a-time
    /// path for plain SMS): what that path is checked against.
    #[doc(hidden)]
    pub async fn ingest_batch_item_by_item(
        &self,
        items: Vec<InboundItem>,
    ) -> Result<Vec<IntakeResult>, IntakeError> {
        self.run_batch(&items, None, Pass::ItemByItem).await
    }

    /// Runs a dead letter (an `error` receipt) through intake again: its receipt is replaced by
    /// the new outcome in one transaction. An item that fails again gets a fresh error receipt.
    pub async fn retry_dead_letter(
        &self,
        receipt_id: i64,
        item: InboundItem,
    ) -> Result<IntakeResult, IntakeError> {
        let write = self.store.begin_write().await?;
        store::inbound::delete_receipt(&write.txn, receipt_id).await?;
        let stored = self.ingest_isolated(&write.txn, &item).await?;
        write.commit().await?;
        if stored.enqueued_notifications {
            self.outbox_wakeup.notify_one();
        }
        Ok(stored.result)
    }

    /// Replaces receipt `receipt_id` (an ignored message) with the message stored as a
    /// person's: threaded into a ticket or opening one, with `note` on the receipt, in one
    /// transaction.
    pub async fn ticket_receipt(
        &self,
        receipt_id: i64,
        message: &InboundMessage,
        note: String,
    ) -> Result<IntakeResult, IntakeError> {
        let write = self.store.begin_write().await?;
        store::inbound::delete_receipt(&write.txn, receipt_id).await?;
        let stored = self
            .ticket_message(&write.txn, message, Some(note), self.clock.now())
            .await?;
        write.commit().await?;
        if stored.enqueued_notifications {
            self.outbox_wakeup.notify_one();
        }
        Ok(stored.result)
    }

    async fn run_batch(
        &self,
        items: &[InboundItem],
        checkpoint: Option<&MailboxCheckpoint>,
        pass: Pass,
    ) -> Result<Vec<IntakeResult>, IntakeError> {
        let write = self.store.begin_write().await?;
        // Plain SMS (the webhooks' group commits) go set at a time; the rest, and a batch
        // being retried item by item, one item after the other.
        if pass == Pass::Whole
            && checkpoint.is_none()
            && let Some(messages) = sms_batch::plain_sms(items)
            && let Some((results, enqueued)) = self.ingest_sms_batch(&write.txn, &messages).await?
        {
            write.commit().await?;
            if enqueued {
                self.outbox_wakeup.notify_one();
            }
            return Ok(results);
        }
        let mut results = Vec::with_capacity(items.len());
        let mut enqueued = false;
        for item in items {
            let stored = if pass == Pass::Isolated {
                self.ingest_isolated(&write.txn, item).await?
            } else {
                self.ingest_one(&write.txn, item).await?
            };
            enqueued |= stored.enqueued_notifications;
            results.push(stored.result);
        }
        if let Some(checkpoint) = checkpoint {
            store::inbound::save_mailbox_state(
                &write.txn,
                &checkpoint.mailbox_key,
                checkpoint.uid_validity,
                checkpoint.last_uid,
                self.clock.now(),
            )
            .await?;
        }
        write.commit().await?;
        if enqueued {
            self.outbox_wakeup.notify_one();
        }
        Ok(results)
    }

    async fn ingest_isolated(
        &self,
        txn: &DatabaseTransaction,
        item: &InboundItem,
    ) -> Result<Stored, DbErr> {
        let savepoint = txn.begin().await?;
        match self.ingest_one(&savepoint, item).await {
            Ok(stored) => {
                savepoint.commit().await?;
                Ok(stored)
            }
            Err(cause) => {
                savepoint.rollback().await?;
                tracing::warn!(source = item.source(), error = %cause, "inbound item could not be stored; recording an error receipt");
                let result = self
                    .record_failure(txn, item, &format!("could not be stored: {cause}"))
                    .await?;
                Ok(Stored::not_notifying(result))
            }
        }
    }

    /// One item: a repeat answers with the first outcome; otherwise it is classified,
    /// threaded and stored.
    async fn ingest_one(
        &self,
        txn: &DatabaseTransaction,
        item: &InboundItem,
    ) -> Result<Stored, DbErr> {
        let message = match item {
            InboundItem::Unreadable(unreadable) => {
                return self
                    .ingest_unreadable(txn, unreadable)
                    .await
                    .map(Stored::not_notifying);
            }
            InboundItem::Parsed(message) => message,
        };
        let Some(first) =
            store::inbound::find_receipt(txn, &message.source, &message.external_id).await?
        else {
            return self.ingest_message(txn, message, None).await;
        };
        let fingerprint = message.fingerprint();
        if first
            .fingerprint
            .as_deref()
            .is_none_or(|f| f == fingerprint)
            || first.content_hash == message.content_hash
        {
            return receipts::result_of_receipt(txn, &first, true)
                .await
                .map(Stored::not_notifying);
        }
        // The Message-ID was used before by a different message: keep this one under the hash
        // of its raw source, so neither is lost.
        if let Some(first) =
            store::inbound::find_receipt(txn, &message.source, &message.content_hash).await?
        {
            return receipts::result_of_receipt(txn, &first, true)
                .await
                .map(Stored::not_notifying);
        }
        let mut rekeyed = (**message).clone();
        rekeyed.external_id = message.content_hash.clone();
        let note = format!(
            "Message-ID {} was already used by another message",
            message.message_id.as_deref().unwrap_or("?")
        );
        self.ingest_message(txn, &rekeyed, Some(note)).await
    }

    async fn ingest_message(
        &self,
        txn: &DatabaseTransaction,
        m: &InboundMessage,
        note: Option<String>,
    ) -> Result<Stored, DbErr> {
        let now = self.clock.now();
        let classification = if m.channel == Channel::Email {
            classify(&ClassifyInput {
                sender: m.sender.email.as_ref(),
                subject: m.subject.as_deref(),
                signals: &m.signals,
                own_addresses: &self.rules.own_addresses,
            })
        } else {
            Classification::Person
        };
        let not_ticketed = match classification {
            Classification::Ignore(reason) => {
                (IntakeOutcome::Ignored, Some(reason.as_str().to_string()))
            }
            Classification::Bounce(status) => {
                return self
                    .bounce(txn, m, status, now)
                    .await
                    .map(Stored::not_notifying);
            }
            Classification::Person if !m.has_sender() => {
                (IntakeOutcome::Error, Some(NO_SENDER.to_string()))
            }
            Classification::Person if m.is_empty() => (
                IntakeOutcome::Ignored,
                Some(IgnoreReason::Empty.as_str().to_string()),
            ),
            Classification::Person => return self.ticket_message(txn, m, note, now).await,
        };
        self.not_ticketed(txn, m, not_ticketed.0, not_ticketed.1, None)
            .await
            .map(Stored::not_notifying)
    }
}

/// How a batch is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// In one go: plain SMS set at a time, other items one after the other.
    Whole,
    /// One item after the other, in one transaction.
    ItemByItem,
    /// One savepoint per item, so a failing item becomes an error receipt.
    Isolated,
}

const NO_SENDER: &str = "no sender address (From, Sender and Reply-To are missing or unreadable)";

/// One stored item, and whether it put a notification in the outbox.
pub(crate) struct Stored {
    pub result: IntakeResult,
    pub enqueued_notifications: bool,
}

impl Stored {
    fn not_notifying(result: IntakeResult) -> Self {
        Self {
            result,
            enqueued_notifications: false,
        }
    }
}

impl InboundItem {
    pub fn source(&self) -> &str {
        match self {
            InboundItem::Parsed(m) => &m.source,
            InboundItem::Unreadable(u) => &u.source,
        }
    }
}
