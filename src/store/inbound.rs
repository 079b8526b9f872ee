//! Inbound receipts (one per inbound item, whatever became of it) and IMAP mailbox state.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, NotSet, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::DbErr;
use super::entities::{inbound_receipt, mailbox_state};

pub use inbound_receipt::Model as Receipt;

pub async fn find_receipt(
    db: &impl ConnectionTrait,
    source: &str,
    external_id: &str,
) -> Result<Option<Receipt>, DbErr> {
    inbound_receipt::Entity::find()
        .filter(inbound_receipt::Column::Source.eq(source))
        .filter(inbound_receipt::Column::ExternalId.eq(external_id))
        .one(db)
        .await
}

/// A receipt of the same source with the same content hash (used when Message-IDs repeat or
/// are missing, e.g. after an IMAP UIDVALIDITY change).
pub async fn find_receipt_by_hash(
    db: &impl ConnectionTrait,
    source: &str,
    content_hash: &str,
) -> Result<Option<Receipt>, DbErr> {
    inbound_receipt::Entity::find()
        .filter(inbound_receipt::Column::Source.eq(source))
        .filter(inbound_receipt::Column::ContentHash.eq(content_hash))
        .one(db)
        .await
}

pub struct NewReceipt<'a> {
    pub source: &'a str,
    pub external_id: &'a str,
    pub channel: &'a str,
    pub outcome: &'a str,
    pub reason: Option<String>,
    pub ticket_id: Option<i64>,
    pub message_id: Option<i64>,
    pub sender: Option<String>,
    pub subject: Option<String>,
    pub content_hash: &'a str,
    /// What a person wrote (subject, text, attachment hashes), to tell a resent copy from a
    /// different message under a reused Message-ID.
    pub fingerprint: Option<String>,
    pub bounced_recipient: Option<String>,
    pub bounce_status: Option<String>,
    /// Kept for items that did not become a message, so nothing is lost.
    pub raw_source: Option<Vec<u8>>,
    pub received_at: DateTime<Utc>,
}

/// Inserts a receipt and returns its id (without reading the raw source back).
pub async fn insert_receipt(db: &impl ConnectionTrait, new: NewReceipt<'_>) -> Result<i64, DbErr> {
    let receipt = receipt_row(new);
    Ok(inbound_receipt::Entity::insert(receipt)
        .exec(db)
        .await?
        .last_insert_id)
}

/// Receipts newest first, optionally of one outcome; with the total.
pub async fn list_receipts(
    db: &impl ConnectionTrait,
    outcome: Option<&str>,
    page: u64,
    per_page: u64,
) -> Result<(Vec<Receipt>, u64), DbErr> {
    let mut query = inbound_receipt::Entity::find();
    if let Some(outcome) = outcome {
        query = query.filter(inbound_receipt::Column::Outcome.eq(outcome));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(inbound_receipt::Column::Id)
        .offset(page.saturating_sub(1) * per_page)
        .limit(per_page)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// Counts of receipts per outcome.
pub async fn count_by_outcome(db: &impl ConnectionTrait) -> Result<Vec<(String, i64)>, DbErr> {
    inbound_receipt::Entity::find()
        .select_only()
        .column(inbound_receipt::Column::Outcome)
        .column_as(inbound_receipt::Column::Id.count(), "n")
        .group_by(inbound_receipt::Column::Outcome)
        .into_tuple()
        .all(db)
        .await
}

pub async fn mailbox_state(
    db: &impl ConnectionTrait,
    key: &str,
) -> Result<Option<mailbox_state::Model>, DbErr> {
    mailbox_state::Entity::find_by_id(key.to_string())
        .one(db)
        .await
}

/// Stores UIDVALIDITY and the last committed UID, in the caller's transaction.
pub async fn save_mailbox_state(
    db: &impl ConnectionTrait,
    key: &str,
    uid_validity: u32,
    last_uid: u32,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let active = mailbox_state::ActiveModel {
        mailbox_key: Set(key.to_string()),
        uid_validity: Set(i64::from(uid_validity)),
        last_uid: Set(i64::from(last_uid)),
        updated_at: Set(now),
    };
    if mailbox_state(db, key).await?.is_some() {
        active.update(db).await?;
    } else {
        active.insert(db).await?;
    }
    Ok(())
}

/// Error receipts that kept their raw source: the dead letters `peyk inbound retry` re-runs.
pub async fn dead_letters(db: &impl ConnectionTrait, limit: u64) -> Result<Vec<Receipt>, DbErr> {
    inbound_receipt::Entity::find()
        .filter(inbound_receipt::Column::Outcome.eq("error"))
        .filter(inbound_receipt::Column::RawSource.is_not_null())
        .order_by_asc(inbound_receipt::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

pub async fn delete_receipt(db: &impl ConnectionTrait, id: i64) -> Result<(), DbErr> {
    inbound_receipt::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

pub async fn receipt_by_id(db: &impl ConnectionTrait, id: i64) -> Result<Option<Receipt>, DbErr> {
    inbound_receipt::Entity::find_by_id(id).one(db).await
}

/// The row of a new receipt.
pub(crate) fn receipt_row(new: NewReceipt<'_>) -> inbound_receipt::ActiveModel {
    inbound_receipt::ActiveModel {
        id: NotSet,
        source: Set(new.source.to_string()),
        external_id: Set(new.external_id.to_string()),
        channel: Set(new.channel.to_string()),
        outcome: Set(new.outcome.to_string()),
        reason: Set(new.reason),
        ticket_id: Set(new.ticket_id),
        message_id: Set(new.message_id),
        sender: Set(new.sender),
        subject: Set(new.subject),
        content_hash: Set(new.content_hash.to_string()),
        fingerprint: Set(new.fingerprint),
        bounced_recipient: Set(new.bounced_recipient),
        bounce_status: Set(new.bounce_status),
        raw_source: Set(new.raw_source),
        attempts: Set(1),
        received_at: Set(new.received_at),
        updated_at: Set(new.received_at),
    }
}
