//! A person's message: find or create the customer, thread, and store ticket, message,
//! attachments, events, receipt and acknowledgement.

use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;

use super::receipts::sender_text;
use super::{Intake, IntakeOutcome, IntakeResult, Stored, acknowledge};
use crate::domain::message::InboundMessage;
use crate::domain::quotes::strip_quoted_reply;
use crate::domain::threading::{self, ThreadCandidates, ThreadDecision, ThreadKeys};
use crate::domain::ticket::{Channel, Direction, Language, TicketEventKind};
use crate::store::inbound::NewReceipt;
use crate::store::tickets::{Customer, NewMessage, NewTicket};
use crate::store::{self, DbErr};

impl Intake {
    pub(super) async fn ticket_message(
        &self,
        txn: &DatabaseTransaction,
        m: &InboundMessage,
        note: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Stored, DbErr> {
        let customer = self.customer_of(txn, m, now).await?;
        let keys = ThreadKeys::extract(
            m.channel,
            m.subject.as_deref(),
            &m.text,
            &m.in_reply_to,
            &m.references,
        );
        let mut candidates = ThreadCandidates {
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
        let mut note = note;
        let decision = match decision {
            ThreadDecision::NewTicket { .. } => {
                match self.flooded_into(txn, m, customer.id).await? {
                    Some((ticket, flood_note)) => {
                        note = Some(match note {
                            Some(earlier) => format!("{flood_note}; {earlier}"),
                            None => flood_note,
                        });
                        candidates.flood_into(ticket)
                    }
                    None => decision,
                }
            }
            reply => reply,
        };

        let (ticket_id, number, outcome, reason, enqueued) = match decision {
            ThreadDecision::Reply {
                ticket_id,
                new_status,
                ..
            } => {
                let ticket = candidates
                    .get(ticket_id)
                    .ok_or_else(|| DbErr::RecordNotFound(format!("ticket {ticket_id}")))?;
                store::tickets::record_customer_reply(txn, ticket, new_status, now).await?;
                (
                    ticket.id,
                    ticket.number.to_string(),
                    IntakeOutcome::Reply,
                    note,
                    false,
                )
            }
            ThreadDecision::NewTicket {
                follows_ticket_id,
                noted_reference,
            } => {
                let subject = new_ticket_subject(m);
                let department_id = match &m.department {
                    Some(key) => Some(store::tickets::department_id(txn, key, now).await?),
                    None => None,
                };
                let acknowledgement = acknowledge::plan(&self.rules, m, &customer);
                let ticket = store::tickets::create_ticket(
                    txn,
                    NewTicket {
                        subject: &subject,
                        channel: m.channel,
                        customer_id: customer.id,
                        department_id,
                        follows_ticket_id,
                        noted_reference: noted_reference.clone(),
                        thread_message_id: acknowledgement
                            .as_ref()
                            .and_then(|a| a.message_id.clone()),
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
                let enqueued = acknowledgement.is_some();
                if let Some(plan) = acknowledgement {
                    acknowledge::enqueue(txn, plan, m, &ticket, &customer, now).await?;
                }
                let reason = match (noted_reference, note) {
                    (Some(reference), Some(note)) => Some(format!("{reference}; {note}")),
                    (reference, note) => reference.or(note),
                };
                (
                    ticket.id,
                    ticket.number,
                    IntakeOutcome::NewTicket,
                    reason,
                    enqueued,
                )
            }
        };

        let author = sender_text(m);
        // A reply keeps what the customer newly wrote; the quoted earlier mail is kept apart.
        let stripped = (outcome == IntakeOutcome::Reply && m.channel == Channel::Email)
            .then(|| strip_quoted_reply(&m.text))
            .filter(|s| s.quoted.is_some());
        let (body_text, quoted_text) = match &stripped {
            Some(s) => (s.reply.as_str(), s.quoted.as_deref()),
            None => (m.text.as_str(), None),
        };
        let message = store::tickets::insert_message(
            txn,
            NewMessage {
                ticket_id,
                direction: Direction::Inbound,
                channel: m.channel,
                author_agent_id: None,
                author: author.as_deref(),
                body_text,
                quoted_text,
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
                ticket_id: Some(ticket_id),
                message_id: Some(message.id),
                sender: author,
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
        Ok(Stored {
            result: IntakeResult {
                outcome,
                ticket_number: Some(number),
                reason,
                duplicate: false,
            },
            enqueued_notifications: enqueued,
        })
    }

    /// When the sender is over the new-ticket limit: the ticket the message goes into instead
    /// (their newest), and the note for its receipt.
    async fn flooded_into(
        &self,
        txn: &DatabaseTransaction,
        m: &InboundMessage,
        customer_id: i64,
    ) -> Result<Option<(crate::domain::threading::TicketSnapshot, String)>, DbErr> {
        let Some(flood) = &self.flood else {
            return Ok(None);
        };
        let sender = sender_text(m).unwrap_or_default();
        if flood.allow_new_ticket(&sender) {
            return Ok(None);
        }
        let Some(newest) = store::tickets::newest_of_customer(txn, customer_id).await? else {
            return Ok(None);
        };
        let note = format!(
            "held: over {} new tickets per hour from this sender; added to ticket {} without an acknowledgement",
            flood.per_hour(),
            newest.number
        );
        Ok(Some((newest, note)))
    }

    /// The customer by email or phone, created on first contact with the language of the message.
    async fn customer_of(
        &self,
        txn: &DatabaseTransaction,
        m: &InboundMessage,
        now: DateTime<Utc>,
    ) -> Result<Customer, DbErr> {
        if let Some(existing) =
            store::tickets::find_customer(txn, m.sender.email.as_ref(), m.sender.phone.as_ref())
                .await?
        {
            store::tickets::remember_customer_name(txn, &existing, m.sender.name.as_deref())
                .await?;
            return Ok(existing);
        }
        let language = first_contact_language(m);
        store::tickets::create_customer(
            txn,
            m.sender.name.as_deref(),
            m.sender.email.as_ref(),
            m.sender.phone.as_ref(),
            language,
            now,
        )
        .await
    }
}

/// The subject of a ticket a message opens: its own (cleaned), else the first words of its text.
pub(super) fn new_ticket_subject(m: &InboundMessage) -> String {
    match m
        .subject
        .as_deref()
        .map(threading::clean_subject)
        .filter(|s| !s.is_empty())
    {
        Some(subject) => subject,
        None if !m.text.trim().is_empty() => threading::subject_from_text(&m.text, 60),
        None => "(no subject)".to_string(),
    }
}

/// The language of a customer first seen with this message.
pub(super) fn first_contact_language(m: &InboundMessage) -> Language {
    Language::detect(&format!(
        "{} {}",
        m.subject.as_deref().unwrap_or(""),
        m.text
    ))
}
