//! The outbox: notifications written in the same transaction as what caused them, sent later
//! by the worker.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, NotSet, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::DbErr;
use super::entities::outbox_item;

pub use outbox_item::Model as OutboxItem;

/// Delivery state of a notification.
pub mod status {
    pub const PENDING: &str = "pending";
    pub const SENT: &str = "sent";
    pub const FAILED: &str = "failed";
    pub const DEAD: &str = "dead";
}

pub struct NewNotification {
    pub ticket_id: i64,
    pub ticket_message_id: Option<i64>,
    pub channel: String,
    pub kind: String,
    pub recipient: String,
    pub language: String,
    pub subject: Option<String>,
    pub body_text: String,
    pub body_html: Option<String>,
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub references: Option<String>,
}

pub async fn enqueue(
    db: &impl ConnectionTrait,
    n: NewNotification,
    now: DateTime<Utc>,
) -> Result<OutboxItem, DbErr> {
    outbox_item::ActiveModel {
        id: NotSet,
        ticket_id: Set(n.ticket_id),
        ticket_message_id: Set(n.ticket_message_id),
        channel: Set(n.channel),
        kind: Set(n.kind),
        recipient: Set(n.recipient),
        language: Set(n.language),
        subject: Set(n.subject),
        body_text: Set(n.body_text),
        body_html: Set(n.body_html),
        message_id: Set(n.message_id),
        in_reply_to: Set(n.in_reply_to),
        references_header: Set(n.references),
        status: Set(status::PENDING.to_string()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        lease_until: Set(None),
        leased_by: Set(None),
        last_error: Set(None),
        provider_message_id: Set(None),
        sent_at: Set(None),
        created_at: Set(now),
    }
    .insert(db)
    .await
}

pub async fn list(
    db: &impl ConnectionTrait,
    status_filter: Option<&str>,
    page: u64,
    per_page: u64,
) -> Result<(Vec<OutboxItem>, u64), DbErr> {
    let mut query = outbox_item::Entity::find();
    if let Some(s) = status_filter {
        query = query.filter(outbox_item::Column::Status.eq(s));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(outbox_item::Column::Id)
        .offset(page.saturating_sub(1) * per_page)
        .limit(per_page)
        .all(db)
        .await?;
    Ok((rows, total))
}

pub async fn of_ticket(
    db: &impl ConnectionTrait,
    ticket_id: i64,
) -> Result<Vec<OutboxItem>, DbErr> {
    outbox_item::Entity::find()
        .filter(outbox_item::Column::TicketId.eq(ticket_id))
        .order_by_asc(outbox_item::Column::Id)
        .all(db)
        .await
}

/// Marks the notification that carried `message_id` as bounced: `failed`, with the reason,
/// so it shows on its ticket. Returns whether one was found.
pub async fn mark_bounced(
    db: &impl ConnectionTrait,
    message_id: &str,
    reason: &str,
) -> Result<bool, DbErr> {
    use sea_orm::sea_query::Expr;
    let result = outbox_item::Entity::update_many()
        .col_expr(outbox_item::Column::Status, Expr::value(status::FAILED))
        .col_expr(
            outbox_item::Column::LastError,
            Expr::value(reason.to_string()),
        )
        .col_expr(
            outbox_item::Column::LeaseUntil,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .filter(outbox_item::Column::MessageId.eq(message_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}
