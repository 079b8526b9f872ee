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
    notification_row(n, now).insert(db).await
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

/// Claims the next due notification for `worker`: leases it until `lease_until` and counts the
/// attempt, in one conditional UPDATE. On PostgreSQL the candidate row is locked with
/// `FOR UPDATE SKIP LOCKED`, so workers of several processes never take the same row; SQLite
/// has one writer at a time, so the same UPDATE without the lock clause is enough.
pub async fn claim_next(
    db: &impl ConnectionTrait,
    worker: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Option<OutboxItem>, DbErr> {
    use sea_orm::{DbBackend, Statement};
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "UPDATE outbox SET lease_until = $1, leased_by = $2, attempts = attempts + 1 \
             WHERE status = 'pending' AND id = (SELECT id FROM outbox WHERE status = 'pending' \
             AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
             ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING *"
        }
        _ => {
            "UPDATE outbox SET lease_until = ?1, leased_by = ?2, attempts = attempts + 1 \
             WHERE status = 'pending' AND id = (SELECT id FROM outbox WHERE status = 'pending' \
             AND next_attempt_at <= ?3 AND (lease_until IS NULL OR lease_until < ?3) \
             ORDER BY next_attempt_at, id LIMIT 1) RETURNING *"
        }
    };
    let statement = Statement::from_sql_and_values(
        backend,
        sql,
        [lease_until.into(), worker.into(), now.into()],
    );
    outbox_item::Entity::find()
        .from_raw_sql(statement)
        .one(db)
        .await
}

/// When the next pending notification becomes claimable: its due time, or the end of a lease
/// that another worker holds. `None` when nothing is pending.
pub async fn next_wakeup(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    use sea_orm::Condition;
    let due = outbox_item::Entity::find()
        .select_only()
        .column(outbox_item::Column::NextAttemptAt)
        .filter(outbox_item::Column::Status.eq(status::PENDING))
        .filter(
            Condition::any()
                .add(outbox_item::Column::LeaseUntil.is_null())
                .add(outbox_item::Column::LeaseUntil.lt(now)),
        )
        .order_by_asc(outbox_item::Column::NextAttemptAt)
        .limit(1)
        .into_tuple::<DateTime<Utc>>()
        .one(db)
        .await?;
    let leased = outbox_item::Entity::find()
        .select_only()
        .column(outbox_item::Column::LeaseUntil)
        .filter(outbox_item::Column::Status.eq(status::PENDING))
        .filter(outbox_item::Column::LeaseUntil.gte(now))
        .order_by_asc(outbox_item::Column::LeaseUntil)
        .limit(1)
        .into_tuple::<DateTime<Utc>>()
        .one(db)
        .await?;
    Ok(match (due, leased) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    Sent {
        provider_message_id: Option<String>,
        at: DateTime<Utc>,
    },
    /// Stays pending, due again at `next_attempt_at`.
    Retry {
        next_attempt_at: DateTime<Utc>,
        error: String,
    },
    Failed {
        error: String,
    },
    Dead {
        error: String,
    },
}

/// Records the result of an attempt and releases the lease. Only the worker holding the
/// lease can do it; answers false when the row was no longer its own (for example marked
/// bounced meanwhile).
pub async fn complete(
    db: &impl ConnectionTrait,
    id: i64,
    worker: &str,
    completion: Completion,
) -> Result<bool, DbErr> {
    use sea_orm::sea_query::Expr;
    let none_time = Option::<DateTime<Utc>>::None;
    let mut update = outbox_item::Entity::update_many()
        .col_expr(outbox_item::Column::LeaseUntil, Expr::value(none_time))
        .col_expr(
            outbox_item::Column::LeasedBy,
            Expr::value(Option::<String>::None),
        );
    update = match completion {
        Completion::Sent {
            provider_message_id,
            at,
        } => update
            .col_expr(outbox_item::Column::Status, Expr::value(status::SENT))
            .col_expr(outbox_item::Column::SentAt, Expr::value(Some(at)))
            .col_expr(
                outbox_item::Column::ProviderMessageId,
                Expr::value(provider_message_id),
            ),
        Completion::Retry {
            next_attempt_at,
            error,
        } => update
            .col_expr(
                outbox_item::Column::NextAttemptAt,
                Expr::value(next_attempt_at),
            )
            .col_expr(outbox_item::Column::LastError, Expr::value(Some(error))),
        Completion::Failed { error } => update
            .col_expr(outbox_item::Column::Status, Expr::value(status::FAILED))
            .col_expr(outbox_item::Column::LastError, Expr::value(Some(error))),
        Completion::Dead { error } => update
            .col_expr(outbox_item::Column::Status, Expr::value(status::DEAD))
            .col_expr(outbox_item::Column::LastError, Expr::value(Some(error))),
    };
    let result = update
        .filter(outbox_item::Column::Id.eq(id))
        .filter(outbox_item::Column::LeasedBy.eq(worker))
        .filter(outbox_item::Column::Status.eq(status::PENDING))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// A notification moved to the customer's other channel (the first one bounced).
pub struct Reroute {
    pub channel: String,
    pub recipient: String,
    pub subject: Option<String>,
    pub body_text: String,
    pub body_html: Option<String>,
    pub message_id: Option<String>,
}

/// Rewrites a leased notification for another channel; answers the row as it now is.
pub async fn reroute(
    db: &impl ConnectionTrait,
    item: &OutboxItem,
    to: Reroute,
) -> Result<OutboxItem, DbErr> {
    let mut active: outbox_item::ActiveModel = item.clone().into();
    active.channel = Set(to.channel);
    active.recipient = Set(to.recipient);
    active.subject = Set(to.subject);
    active.body_text = Set(to.body_text);
    active.body_html = Set(to.body_html);
    if to.message_id.is_some() {
        active.message_id = Set(to.message_id);
    }
    active.update(db).await
}

/// The ticket and customer a notification belongs to.
pub async fn ticket_and_customer(
    db: &impl ConnectionTrait,
    ticket_id: i64,
) -> Result<Option<(super::tickets::Ticket, super::tickets::Customer)>, DbErr> {
    use super::entities::{customer, ticket};
    let Some(ticket) = ticket::Entity::find_by_id(ticket_id).one(db).await? else {
        return Ok(None);
    };
    let customer = customer::Entity::find_by_id(ticket.customer_id)
        .one(db)
        .await?;
    Ok(customer.map(|c| (ticket, c)))
}

/// Counts rows by status (for tests, metrics and the benchmark).
pub async fn count_by_status(db: &impl ConnectionTrait, wanted: &str) -> Result<u64, DbErr> {
    outbox_item::Entity::find()
        .filter(outbox_item::Column::Status.eq(wanted))
        .count(db)
        .await
}

/// The name an agent signs replies with.
pub async fn agent_name(db: &impl ConnectionTrait, agent_id: i64) -> Result<Option<String>, DbErr> {
    use super::entities::agent;
    Ok(agent::Entity::find_by_id(agent_id)
        .one(db)
        .await?
        .map(|a| a.name))
}

/// Puts a `failed` or `dead` notification back in the queue, due now (an agent's retry).
/// Returns false when the item is not failed or dead.
pub async fn requeue(
    db: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    use sea_orm::sea_query::Expr;
    let updated = outbox_item::Entity::update_many()
        .col_expr(outbox_item::Column::Status, Expr::value(status::PENDING))
        .col_expr(outbox_item::Column::NextAttemptAt, Expr::value(now))
        .col_expr(
            outbox_item::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            outbox_item::Column::LeasedBy,
            Expr::value(Option::<String>::None),
        )
        .filter(outbox_item::Column::Id.eq(id))
        .filter(outbox_item::Column::Status.is_in([status::FAILED, status::DEAD]))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// The row of a new pending notification.
pub(crate) fn notification_row(n: NewNotification, now: DateTime<Utc>) -> outbox_item::ActiveModel {
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
}
