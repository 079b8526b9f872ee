//! Classify, thread, persist: the one door from `inbound/` into the store.
//!
//! Each item is written in one transaction with everything it causes: its receipt, the
//! customer, the ticket and message (with attachments), status changes and events, and the
//! notifications in the outbox. A batch shares one transaction (one durable commit), with a
//! savepoint per item so one bad item becomes an `error` receipt without spoiling the rest.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::domain::classify::{Classification, ClassifyInput, IgnoreReason, classify};
use crate::domain::contact::EmailAddress;
use crate::domain::message::{DeliveryStatus, InboundMessage};
use crate::domain::threading::{self, ThreadCandidates, ThreadDecision, ThreadKeys, ThreadPolicy};
use crate::domain::ticket::{Channel, Direction, Language, TicketEventKind};
use crate::outbound::render;
use crate::store::inbound::{NewReceipt, Receipt};
use crate::store::outbox::NewNotification;
use crate::store::tickets::{NewMessage, NewTicket};
use crate::store::{self, DbErr, Store};

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
}

/// What intake needs from the settings, resolved once.
#[derive(Debug, Clone)]
pub struct IntakeRules {
    pub own_addresses: Vec<EmailAddress>,
    pub thread_policy: ThreadPolicy,
    pub default_language: Language,
    /// Domain for generated Message-IDs (the no-reply sender's).
    pub message_id_domain: String,
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
        }
    }
}

#[derive(Clone)]
pub struct Intake {
    store: Store,
    rules: IntakeRules,
    clock: SharedClock,
}

impl Intake {
    pub fn new(store: Store, rules: IntakeRules, clock: SharedClock) -> Self {
        Self {
            store,
            rules,
            clock,
        }
    }

    pub async fn ingest(&self, item: InboundItem) -> Result<IntakeResult, IntakeError> {
        let mut results = self.ingest_batch(vec![item]).await?;
        Ok(results.pop().unwrap_or(IntakeResult {
            outcome: IntakeOutcome::Error,
            ticket_number: None,
            reason: Some("intake returned no result".into()),
            duplicate: false,
        }))
    }

    /// Ingests items in one transaction, one savepoint each, and commits once.
    pub async fn ingest_batch(
        &self,
        items: Vec<InboundItem>,
    ) -> Result<Vec<IntakeResult>, IntakeError> {
        let write = self.store.begin_write().await?;
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            let savepoint = write.txn.begin().await?;
            match self.ingest_one(&savepoint, &item).await {
                Ok(result) => {
                    savepoint.commit().await?;
                    results.push(result);
                }
                Err(cause) => {
                    savepoint.rollback().await?;
                    tracing::warn!(source = item_source(&item), error = %cause, "inbound item could not be stored; recording an error receipt");
                    let result = self
                        .record_failure(&write.txn, &item, &format!("could not be stored: {cause}"))
                        .await?;
                    results.push(result);
                }
            }
        }
        write.commit().await?;
        Ok(results)
    }

    async fn ingest_one(
        &self,
        txn: &DatabaseTransaction,
        item: &InboundItem,
    ) -> Result<IntakeResult, DbErr> {
        let message = match item {
            InboundItem::Unreadable(u) => {
                let Some(first) =
                    store::inbound::find_receipt(txn, &u.source, &u.external_id).await?
                else {
                    return self.insert_error_receipt(txn, u).await;
                };
                if first.content_hash == u.content_hash {
                    return result_of_receipt(txn, &first, true).await;
                }
                // Another message had this Message-ID: key this one by its own hash.
                if let Some(first) =
                    store::inbound::find_receipt(txn, &u.source, &u.content_hash).await?
                {
                    return result_of_receipt(txn, &first, true).await;
                }
                let rekeyed = UnreadableItem {
                    external_id: u.content_hash.clone(),
                    ..u.clone()
                };
                return self.insert_error_receipt(txn, &rekeyed).await;
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
            return result_of_receipt(txn, &first, true).await;
        }
        // The Message-ID was used before by a different message: keep this one under the hash
        // of its raw source, so neither is lost.
        if let Some(first) =
            store::inbound::find_receipt(txn, &message.source, &message.content_hash).await?
        {
            return result_of_receipt(txn, &first, true).await;
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
    ) -> Result<IntakeResult, DbErr> {
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
        match classification {
            Classification::Ignore(reason) => {
                return self
                    .not_ticketed(
                        txn,
                        m,
                        IntakeOutcome::Ignored,
                        Some(reason.as_str().to_string()),
                        None,
                    )
                    .await;
            }
            Classification::Bounce(status) => return self.bounce(txn, m, status, now).await,
            Classification::Person if !m.has_sender() => {
                let reason =
                    "no sender address (From, Sender and Reply-To are missing or unreadable)";
                return self
                    .not_ticketed(txn, m, IntakeOutcome::Error, Some(reason.to_string()), None)
                    .await;
            }
            Classification::Person if m.is_empty() => {
                return self
                    .not_ticketed(
                        txn,
                        m,
                        IntakeOutcome::Ignored,
                        Some(IgnoreReason::Empty.as_str().to_string()),
                        None,
                    )
                    .await;
            }
            Classification::Person => {}
        }

        let language = Language::detect(&format!(
            "{} {}",
            m.subject.as_deref().unwrap_or(""),
            m.text
        ));
        let customer = match store::tickets::find_customer(
            txn,
            m.sender.email.as_ref(),
            m.sender.phone.as_ref(),
        )
        .await?
        {
            Some(existing) => {
                store::tickets::remember_customer_name(txn, &existing, m.sender.name.as_deref())
                    .await?;
                existing
            }
            None => {
                store::tickets::create_customer(
                    txn,
                    m.sender.name.as_deref(),
                    m.sender.email.as_ref(),
                    m.sender.phone.as_ref(),
                    language,
                    now,
                )
                .await?
            }
        };

        let keys = ThreadKeys::extract(
            m.channel,
            m.subject.as_deref(),
            &m.text,
            &m.in_reply_to,
            &m.references,
        );
        let candidates = ThreadCandidates {
            by_message_id: store::tickets::snapshot_by_message_ids(txn, &keys.message_ids).await?,
            by_number: match keys.named_number() {
                Some(number) => store::tickets::snapshot_by_number(txn, number).await?,
                None => None,
            },
            newest_open_of_sender: if m.channel == Channel::Sms {
                store::tickets::newest_open_of_customer(txn, customer.id).await?
            } else {
                None
            },
        };
        let decision = threading::decide(
            m.channel,
            &keys,
            &candidates,
            Some(customer.id),
            now,
            &self.rules.thread_policy,
        );

        let (ticket, outcome, reason) = match decision {
            ThreadDecision::Reply {
                ticket_id,
                new_status,
                ..
            } => {
                store::tickets::touch_for_customer_reply(txn, ticket_id, new_status, now).await?;
                let ticket = store::tickets::snapshot_by_id(txn, ticket_id)
                    .await?
                    .ok_or_else(|| DbErr::RecordNotFound(format!("ticket {ticket_id}")))?;
                (ticket.number.to_string(), IntakeOutcome::Reply, note)
            }
            ThreadDecision::NewTicket {
                follows_ticket_id,
                noted_reference,
            } => {
                let subject = match m
                    .subject
                    .as_deref()
                    .map(threading::clean_subject)
                    .filter(|s| !s.is_empty())
                {
                    Some(subject) => subject,
                    None if !m.text.trim().is_empty() => threading::subject_from_text(&m.text, 60),
                    None => "(no subject)".to_string(),
                };
                let department_id = match &m.department {
                    Some(key) => Some(store::tickets::department_id(txn, key, now).await?),
                    None => None,
                };
                let ticket = store::tickets::create_ticket(
                    txn,
                    NewTicket {
                        subject: &subject,
                        channel: m.channel,
                        customer_id: customer.id,
                        department_id,
                        follows_ticket_id,
                        noted_reference: noted_reference.clone(),
                        now,
                    },
                )
                .await?;
                store::tickets::record_event(
                    txn,
                    ticket.id,
                    TicketEventKind::Created,
                    None,
                    Some("open"),
                    None,
                    "customer",
                    now,
                )
                .await?;
                if let Some(previous) = follows_ticket_id {
                    store::tickets::record_event(
                        txn,
                        ticket.id,
                        TicketEventKind::Linked,
                        None,
                        Some(&previous.to_string()),
                        None,
                        "system",
                        now,
                    )
                    .await?;
                }
                let customer_language = customer
                    .language
                    .as_deref()
                    .and_then(Language::parse)
                    .unwrap_or(self.rules.default_language);
                self.enqueue_acknowledgement(txn, m, &ticket, &customer, customer_language, now)
                    .await?;
                let reason = match (noted_reference, note) {
                    (Some(reference), Some(note)) => Some(format!("{reference}; {note}")),
                    (reference, note) => reference.or(note),
                };
                (ticket.number.clone(), IntakeOutcome::NewTicket, reason)
            }
        };

        let ticket_row = store::tickets::find_by_number(txn, &ticket)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(ticket.clone()))?;
        let author = m
            .sender
            .email
            .as_ref()
            .map(|e| e.to_string())
            .or_else(|| m.sender.phone.as_ref().map(|p| p.to_string()));
        let message = store::tickets::insert_message(
            txn,
            NewMessage {
                ticket_id: ticket_row.id,
                direction: Direction::Inbound,
                channel: m.channel,
                author_agent_id: None,
                author: author.as_deref(),
                body_text: &m.text,
                body_html: m.html.as_deref(),
                message_id: m.message_id.as_deref(),
                in_reply_to: (!m.in_reply_to.is_empty()).then(|| m.in_reply_to.join(" ")),
                references: (!m.references.is_empty()).then(|| m.references.join(" ")),
                provider_message_id: m.provider_message_id.as_deref(),
                raw_source: m.raw.as_deref(),
                now,
            },
        )
        .await?;
        store::tickets::insert_attachments(txn, message.id, &m.attachments, now).await?;
        store::inbound::insert_receipt(
            txn,
            NewReceipt {
                source: &m.source,
                external_id: &m.external_id,
                channel: m.channel.as_str(),
                outcome: outcome.as_str(),
                reason: reason.clone(),
                ticket_id: Some(ticket_row.id),
                message_id: Some(message.id),
                sender: sender_text(m),
                subject: m.subject.clone(),
                content_hash: &m.content_hash,
                fingerprint: Some(m.fingerprint()),
                bounced_recipient: None,
                bounce_status: None,
                raw_source: None,
                received_at: m.received_at,
            },
        )
        .await?;
        Ok(IntakeResult {
            outcome,
            ticket_number: Some(ticket),
            reason,
            duplicate: false,
        })
    }

    async fn enqueue_acknowledgement(
        &self,
        txn: &DatabaseTransaction,
        m: &InboundMessage,
        ticket: &store::tickets::Ticket,
        customer: &store::tickets::Customer,
        language: Language,
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        let rendered = render::ticket_received(
            language,
            &ticket.number,
            &ticket.subject,
            customer.name.as_deref(),
        )
        .map_err(|e| DbErr::Custom(e.to_string()))?;
        let (channel, recipient) = match m.channel {
            Channel::Sms => match &customer.phone {
                Some(phone) if customer.phone_bounced_at.is_none() => (Channel::Sms, phone.clone()),
                _ => return Ok(()),
            },
            Channel::Email | Channel::Web => match &customer.email {
                Some(email)
                    if customer.email_bounced_at.is_none() && !self.is_own_address(email) =>
                {
                    (Channel::Email, email.clone())
                }
                _ => return Ok(()),
            },
        };
        let notification = match channel {
            Channel::Sms => NewNotification {
                ticket_id: ticket.id,
                ticket_message_id: None,
                channel: Channel::Sms.as_str().into(),
                kind: "ticket_received".into(),
                recipient,
                language: language.as_str().into(),
                subject: None,
                body_text: rendered.sms_text,
                body_html: None,
                message_id: None,
                in_reply_to: None,
                references: None,
            },
            _ => {
                let message_id = self.new_message_id(&ticket.number);
                let mut references = m.references.clone();
                if let Some(own) = &m.message_id
                    && !references.contains(own)
                {
                    references.push(own.clone());
                }
                store::tickets::set_thread_message_id(txn, ticket.id, &message_id).await?;
                NewNotification {
                    ticket_id: ticket.id,
                    ticket_message_id: None,
                    channel: Channel::Email.as_str().into(),
                    kind: "ticket_received".into(),
                    recipient,
                    language: language.as_str().into(),
                    subject: Some(rendered.email_subject),
                    body_text: rendered.email_text,
                    body_html: Some(rendered.email_html),
                    message_id: Some(message_id),
                    in_reply_to: m.message_id.clone(),
                    references: (!references.is_empty()).then(|| references.join(" ")),
                }
            }
        };
        store::outbox::enqueue(txn, notification, now).await?;
        Ok(())
    }

    fn is_own_address(&self, email: &str) -> bool {
        EmailAddress::parse(email)
            .map(|e| self.rules.own_addresses.contains(&e))
            .unwrap_or(false)
    }

    fn new_message_id(&self, number: &str) -> String {
        use rand::Rng;
        let token: u64 = rand::rng().random();
        format!(
            "<peyk.{number}.{token:016x}@{}>",
            self.rules.message_id_domain
        )
    }

    async fn bounce(
        &self,
        txn: &DatabaseTransaction,
        m: &InboundMessage,
        status: DeliveryStatus,
        now: DateTime<Utc>,
    ) -> Result<IntakeResult, DbErr> {
        if let Some(recipient) = status
            .recipient
            .as_deref()
            .and_then(|r| EmailAddress::parse(r).ok())
            && status.status.as_deref().is_none_or(|s| s.starts_with('5'))
        {
            store::tickets::mark_email_bounced(txn, &recipient, now).await?;
        }
        self.not_ticketed(txn, m, IntakeOutcome::Bounce, None, Some(status))
            .await
    }

    async fn not_ticketed(
        &self,
        txn: &DatabaseTransaction,
        m: &InboundMessage,
        outcome: IntakeOutcome,
        reason: Option<String>,
        bounce: Option<DeliveryStatus>,
    ) -> Result<IntakeResult, DbErr> {
        let bounce = bounce.unwrap_or_default();
        store::inbound::insert_receipt(
            txn,
            NewReceipt {
                source: &m.source,
                external_id: &m.external_id,
                channel: m.channel.as_str(),
                outcome: outcome.as_str(),
                reason: reason.clone(),
                ticket_id: None,
                message_id: None,
                sender: sender_text(m),
                subject: m.subject.clone(),
                content_hash: &m.content_hash,
                fingerprint: Some(m.fingerprint()),
                bounced_recipient: bounce.recipient,
                bounce_status: bounce.status,
                raw_source: Some(raw_or_text(m)),
                received_at: m.received_at,
            },
        )
        .await?;
        Ok(IntakeResult {
            outcome,
            ticket_number: None,
            reason,
            duplicate: false,
        })
    }

    async fn insert_error_receipt(
        &self,
        txn: &impl ConnectionTrait,
        u: &UnreadableItem,
    ) -> Result<IntakeResult, DbErr> {
        store::inbound::insert_receipt(
            txn,
            NewReceipt {
                source: &u.source,
                external_id: &u.external_id,
                channel: u.channel.as_str(),
                outcome: IntakeOutcome::Error.as_str(),
                reason: Some(u.reason.clone()),
                ticket_id: None,
                message_id: None,
                sender: None,
                subject: None,
                content_hash: &u.content_hash,
                fingerprint: None,
                bounced_recipient: None,
                bounce_status: None,
                raw_source: Some(u.raw.clone()),
                received_at: u.received_at,
            },
        )
        .await?;
        Ok(IntakeResult {
            outcome: IntakeOutcome::Error,
            ticket_number: None,
            reason: Some(u.reason.clone()),
            duplicate: false,
        })
    }

    /// Records an `error` receipt for an item whose storing failed, keeping its raw source.
    async fn record_failure(
        &self,
        txn: &DatabaseTransaction,
        item: &InboundItem,
        reason: &str,
    ) -> Result<IntakeResult, DbErr> {
        let unreadable = match item {
            InboundItem::Unreadable(u) => UnreadableItem {
                reason: reason.to_string(),
                ..u.clone()
            },
            InboundItem::Parsed(m) => UnreadableItem {
                channel: m.channel,
                source: m.source.clone(),
                external_id: m.external_id.clone(),
                content_hash: m.content_hash.clone(),
                reason: reason.to_string(),
                raw: raw_or_text(m),
                received_at: m.received_at,
            },
        };
        let mut unreadable = unreadable;
        if store::inbound::find_receipt(txn, &unreadable.source, &unreadable.external_id)
            .await?
            .is_some()
        {
            // The id belongs to an earlier item (a reused Message-ID): key this one by its hash.
            if let Some(first) =
                store::inbound::find_receipt(txn, &unreadable.source, &unreadable.content_hash)
                    .await?
            {
                return result_of_receipt(txn, &first, true).await;
            }
            unreadable.external_id = unreadable.content_hash.clone();
        }
        let savepoint = txn.begin().await?;
        match self.insert_error_receipt(&savepoint, &unreadable).await {
            Ok(result) => {
                savepoint.commit().await?;
                Ok(result)
            }
            Err(e) => {
                savepoint.rollback().await?;
                Err(e)
            }
        }
    }
}

fn item_source(item: &InboundItem) -> &str {
    match item {
        InboundItem::Parsed(m) => &m.source,
        InboundItem::Unreadable(u) => &u.source,
    }
}

fn sender_text(m: &InboundMessage) -> Option<String> {
    m.sender
        .email
        .as_ref()
        .map(|e| e.to_string())
        .or_else(|| m.sender.phone.as_ref().map(|p| p.to_string()))
}

/// The raw source of an email, or the text of an SMS: what must never be lost.
fn raw_or_text(m: &InboundMessage) -> Vec<u8> {
    m.raw.clone().unwrap_or_else(|| m.text.as_bytes().to_vec())
}

async fn result_of_receipt(
    db: &impl ConnectionTrait,
    receipt: &Receipt,
    duplicate: bool,
) -> Result<IntakeResult, DbErr> {
    let ticket_number = match receipt.ticket_id {
        Some(id) => store::tickets::snapshot_by_id(db, id)
            .await?
            .map(|t| t.number.to_string()),
        None => None,
    };
    Ok(IntakeResult {
        outcome: IntakeOutcome::parse(&receipt.outcome).unwrap_or(IntakeOutcome::Error),
        ticket_number,
        reason: receipt.reason.clone(),
        duplicate,
    })
}
