//! Receipts for what is not ticketed (ignored, bounce, error) and for repeats.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};

use super::{InboundItem, Intake, IntakeOutcome, IntakeResult, UnreadableItem};
use crate::domain::contact::EmailAddress;
use crate::domain::message::{DeliveryStatus, InboundMessage};
use crate::store::inbound::{NewReceipt, Receipt};
use crate::store::{self, DbErr};

impl Intake {
    pub(super) async fn ingest_unreadable(
        &self,
        txn: &DatabaseTransaction,
        u: &UnreadableItem,
    ) -> Result<IntakeResult, DbErr> {
        let Some(first) = store::inbound::find_receipt(txn, &u.source, &u.external_id).await?
        else {
            return insert_error_receipt(txn, u).await;
        };
        if first.content_hash == u.content_hash {
            return result_of_receipt(txn, &first, true).await;
        }
        // Another message had this Message-ID: key this one by its own hash.
        if let Some(first) = store::inbound::find_receipt(txn, &u.source, &u.content_hash).await? {
            return result_of_receipt(txn, &first, true).await;
        }
        let rekeyed = UnreadableItem {
            external_id: u.content_hash.clone(),
            ..u.clone()
        };
        insert_error_receipt(txn, &rekeyed).await
    }

    pub(super) async fn bounce(
        &self,
        txn: &DatabaseTransaction,
        m: &InboundMessage,
        status: DeliveryStatus,
        now: DateTime<Utc>,
    ) -> Result<IntakeResult, DbErr> {
        let permanent = status.status.as_deref().is_none_or(|s| s.starts_with('5'));
        if let Some(recipient) = status
            .recipient
            .as_deref()
            .and_then(|r| EmailAddress::parse(r).ok())
            && permanent
        {
            store::tickets::mark_email_bounced(txn, &recipient, now).await?;
        }
        if let Some(returned) = &m.signals.returned_message_id
            && permanent
        {
            let reason = format!(
                "bounced: {} {}",
                status.status.as_deref().unwrap_or("(no status)"),
                status.recipient.as_deref().unwrap_or("")
            );
            store::outbox::mark_bounced(txn, returned, reason.trim()).await?;
        }
        self.not_ticketed(txn, m, IntakeOutcome::Bounce, None, Some(status))
            .await
    }

    /// A receipt that keeps the whole message and says why it made no ticket.
    pub(super) async fn not_ticketed(
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

    /// Records an `error` receipt for an item whose storing failed, keeping its raw source.
    pub(super) async fn record_failure(
        &self,
        txn: &DatabaseTransaction,
        item: &InboundItem,
        reason: &str,
    ) -> Result<IntakeResult, DbErr> {
        let mut unreadable = match item {
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
        match insert_error_receipt(&savepoint, &unreadable).await {
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

async fn insert_error_receipt(
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

pub(super) fn sender_text(m: &InboundMessage) -> Option<String> {
    m.sender
        .email
        .as_ref()
        .map(|e| e.to_string())
        .or_else(|| m.sender.phone.as_ref().map(|p| p.to_string()))
}

/// The raw source of an email, or the text of an SMS: what must never be lost.
pub(super) fn raw_or_text(m: &InboundMessage) -> Vec<u8> {
    m.raw.clone().unwrap_or_else(|| m.text.as_bytes().to_vec())
}

/// The outcome a receipt recorded, as the answer to a repeat of its item.
pub(super) async fn result_of_receipt(
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
