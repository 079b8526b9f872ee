//! Customers, departments, tickets, messages, attachments and ticket events.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, NotSet, QueryFilter, QueryOrder,
    QuerySelect, Set, TryIntoModel,
};

use super::DbErr;
use super::entities::{
    attachment, customer, department, message, outbox_item, ticket, ticket_event,
};
use crate::domain::contact::{EmailAddress, PhoneNumber};
use crate::domain::message::InboundAttachment;
use crate::domain::threading::TicketSnapshot;
use crate::domain::ticket::{
    Channel, Direction, Language, Priority, TicketEventKind, TicketStatus,
};
use crate::domain::ticket_number::TicketNumber;

pub use customer::Model as Customer;
pub use ticket::Model as Ticket;

pub async fn find_customer(
    db: &impl ConnectionTrait,
    email: Option<&EmailAddress>,
    phone: Option<&PhoneNumber>,
) -> Result<Option<Customer>, DbErr> {
    if let Some(email) = email
        && let Some(found) = customer::Entity::find()
            .filter(customer::Column::Email.eq(email.as_str()))
            .one(db)
            .await?
    {
        return Ok(Some(found));
    }
    if let Some(phone) = phone {
        return customer::Entity::find()
            .filter(customer::Column::Phone.eq(phone.as_str()))
            .one(db)
            .await;
    }
    Ok(None)
}

pub async fn create_customer(
    db: &impl ConnectionTrait,
    name: Option<&str>,
    email: Option<&EmailAddress>,
    phone: Option<&PhoneNumber>,
    language: Language,
    now: DateTime<Utc>,
) -> Result<Customer, DbErr> {
    customer::ActiveModel {
        id: NotSet,
        name: Set(name.map(str::to_string)),
        email: Set(email.map(|e| e.as_str().to_string())),
        phone: Set(phone.map(|p| p.as_str().to_string())),
        language: Set(Some(language.as_str().to_string())),
        channel_preference: Set(None),
        email_bounced_at: Set(None),
        phone_bounced_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
}

/// Fills in a name the customer did not have yet.
pub async fn remember_customer_name(
    db: &impl ConnectionTrait,
    customer: &Customer,
    name: Option<&str>,
) -> Result<(), DbErr> {
    if customer.name.is_none()
        && let Some(name) = name.filter(|n| !n.trim().is_empty())
    {
        customer::Entity::update_many()
            .col_expr(customer::Column::Name, Expr::value(name.to_string()))
            .filter(customer::Column::Id.eq(customer.id))
            .exec(db)
            .await?;
    }
    Ok(())
}

pub async fn department_id(
    db: &impl ConnectionTrait,
    key: &str,
    now: DateTime<Utc>,
) -> Result<i64, DbErr> {
    if let Some(found) = department::Entity::find()
        .filter(department::Column::Key.eq(key))
        .one(db)
        .await?
    {
        return Ok(found.id);
    }
    let created = department::ActiveModel {
        id: NotSet,
        key: Set(key.to_string()),
        name: Set(key.to_string()),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(created.id)
}

/// What threading needs to know of a ticket.
pub fn snapshot_of(t: &Ticket) -> Option<TicketSnapshot> {
    snapshot(t)
}

fn snapshot(t: &Ticket) -> Option<TicketSnapshot> {
    Some(TicketSnapshot {
        id: t.id,
        number: TicketNumber::parse(&t.number).ok()?,
        customer_id: t.customer_id,
        status: TicketStatus::parse(&t.status)?,
        updated_at: t.updated_at,
        closed_at: t.closed_at,
    })
}

pub async fn find_by_number(
    db: &impl ConnectionTrait,
    number: &str,
) -> Result<Option<Ticket>, DbErr> {
    ticket::Entity::find()
        .filter(ticket::Column::Number.eq(number))
        .one(db)
        .await
}

pub async fn snapshot_by_number(
    db: &impl ConnectionTrait,
    number: &TicketNumber,
) -> Result<Option<TicketSnapshot>, DbErr> {
    Ok(find_by_number(db, number.as_str())
        .await?
        .as_ref()
        .and_then(snapshot))
}

pub async fn snapshot_by_id(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<TicketSnapshot>, DbErr> {
    Ok(ticket::Entity::find_by_id(id)
        .one(db)
        .await?
        .as_ref()
        .and_then(snapshot))
}

/// The ticket of the first Message-ID (in the given order) that Peyk stored or sent.
pub async fn snapshot_by_message_ids(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<Option<TicketSnapshot>, DbErr> {
    if ids.is_empty() {
        return Ok(None);
    }
    let stored: Vec<(String, i64)> = message::Entity::find()
        .select_only()
        .column(message::Column::MessageId)
        .column(message::Column::TicketId)
        .filter(message::Column::MessageId.is_in(ids.iter().cloned()))
        .into_tuple()
        .all(db)
        .await?;
    let sent: Vec<(String, i64)> = outbox_item::Entity::find()
        .select_only()
        .column(outbox_item::Column::MessageId)
        .column(outbox_item::Column::TicketId)
        .filter(outbox_item::Column::MessageId.is_in(ids.iter().cloned()))
        .into_tuple()
        .all(db)
        .await?;
    for id in ids {
        if let Some((_, ticket_id)) = stored.iter().chain(sent.iter()).find(|(mid, _)| mid == id) {
            return snapshot_by_id(db, *ticket_id).await;
        }
    }
    Ok(None)
}

/// The customer's most recently updated ticket that is not closed (of two updated at the same
/// time, the newer).
pub async fn newest_open_of_customer(
    db: &impl ConnectionTrait,
    customer_id: i64,
) -> Result<Option<TicketSnapshot>, DbErr> {
    let found = ticket::Entity::find()
        .filter(ticket::Column::CustomerId.eq(customer_id))
        .filter(ticket::Column::Status.ne(TicketStatus::Closed.as_str()))
        .order_by_desc(ticket::Column::UpdatedAt)
        .order_by_desc(ticket::Column::Id)
        .one(db)
        .await?;
    Ok(found.as_ref().and_then(snapshot))
}

pub struct NewTicket<'a> {
    pub subject: &'a str,
    pub channel: Channel,
    pub customer_id: i64,
    pub department_id: Option<i64>,
    pub follows_ticket_id: Option<i64>,
    pub noted_reference: Option<String>,
    /// The Message-ID of the acknowledgement, when one is sent: replies quoting it thread back.
    pub thread_message_id: Option<String>,
    pub now: DateTime<Utc>,
}

/// Inserts a ticket under a fresh random number, drawing again when the number is taken.
/// (Two processes drawing the same free number in the same instant would fail the insert on the
/// unique index: the item then becomes an error receipt for a retry, never a lost message.)
pub async fn create_ticket(db: &impl ConnectionTrait, new: NewTicket<'_>) -> Result<Ticket, DbErr> {
    for attempt in 0..50 {
        let number = TicketNumber::random_for_attempt(&mut rand::rng(), attempt);
        if find_by_number(db, number.as_str()).await?.is_some() {
            continue;
        }
        return ticket_row(number.as_str().to_string(), new)
            .insert(db)
            .await;
    }
    Err(DbErr::Custom("no free ticket number after 50 draws".into()))
}

/// Records that the customer wrote again, in one UPDATE: bumps `updated_at`, applies a status
/// change (with its event), and starts the wait clock only if the customer was not already
/// waiting, so a bump never moves a ticket up the queue.
pub async fn record_customer_reply(
    db: &impl ConnectionTrait,
    ticket: &TicketSnapshot,
    new_status: Option<TicketStatus>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut update = ticket::Entity::update_many()
        .col_expr(ticket::Column::UpdatedAt, Expr::value(now))
        .col_expr(
            ticket::Column::WaitingSince,
            Expr::col(ticket::Column::WaitingSince).if_null(now),
        )
        .filter(ticket::Column::Id.eq(ticket.id));
    if let Some(status) = new_status {
        update = update.col_expr(ticket::Column::Status, Expr::value(status.as_str()));
        if status != TicketStatus::Closed {
            update = update.col_expr(
                ticket::Column::ClosedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            );
        }
    }
    update.exec(db).await?;
    if let Some(status) = new_status {
        let kind = if ticket.status == TicketStatus::Closed {
            TicketEventKind::Reopened
        } else {
            TicketEventKind::Status
        };
        record_event(
            db,
            ticket.id,
            kind,
            Some(ticket.status.as_str()),
            Some(status.as_str()),
            None,
            "customer",
            now,
        )
        .await?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)] // one row, one argument per column
pub async fn record_event(
    db: &impl ConnectionTrait,
    ticket_id: i64,
    kind: TicketEventKind,
    old_value: Option<&str>,
    new_value: Option<&str>,
    actor_agent_id: Option<i64>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let event = ticket_event::ActiveModel {
        id: NotSet,
        ticket_id: Set(ticket_id),
        kind: Set(kind.as_str().to_string()),
        old_value: Set(old_value.map(str::to_string)),
        new_value: Set(new_value.map(str::to_string)),
        actor_agent_id: Set(actor_agent_id),
        actor: Set(actor.to_string()),
        created_at: Set(now),
    };
    ticket_event::Entity::insert(event).exec(db).await?;
    Ok(())
}

pub struct NewMessage<'a> {
    pub ticket_id: i64,
    pub direction: Direction,
    pub channel: Channel,
    pub author_agent_id: Option<i64>,
    pub author: Option<&'a str>,
    pub body_text: &'a str,
    pub quoted_text: Option<&'a str>,
    pub body_html: Option<&'a str>,
    pub message_id: Option<&'a str>,
    pub in_reply_to: Option<String>,
    pub references: Option<String>,
    pub provider_message_id: Option<&'a str>,
    pub raw_source: Option<&'a [u8]>,
    pub now: DateTime<Utc>,
}

/// Inserts a message and returns it without reading it back (the raw source can be large).
pub async fn insert_message(
    db: &impl ConnectionTrait,
    new: NewMessage<'_>,
) -> Result<message::Model, DbErr> {
    let mut active = message_row(new);
    let id = message::Entity::insert(active.clone())
        .exec(db)
        .await?
        .last_insert_id;
    active.id = Set(id);
    active.try_into_model()
}

/// Inserts a message's attachments in one statement.
pub async fn insert_attachments(
    db: &impl ConnectionTrait,
    message_id: i64,
    attachments: &[InboundAttachment],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if attachments.is_empty() {
        return Ok(());
    }
    let rows = attachments.iter().map(|a| attachment::ActiveModel {
        id: NotSet,
        message_id: Set(message_id),
        filename: Set(a.filename.clone()),
        content_type: Set(a.content_type.clone()),
        size: Set(i64::try_from(a.size).unwrap_or(i64::MAX)),
        sha256: Set(a.sha256.clone()),
        content: Set(a.content.clone()),
        refused: Set(a.is_refused()),
        refused_reason: Set(a.refused_reason.clone()),
        created_at: Set(now),
    });
    attachment::Entity::insert_many(rows).exec(db).await?;
    Ok(())
}

pub async fn count_tickets(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    ticket::Entity::find().count(db).await
}

pub async fn messages_of_ticket(
    db: &impl ConnectionTrait,
    ticket_id: i64,
) -> Result<Vec<message::Model>, DbErr> {
    message::Entity::find()
        .filter(message::Column::TicketId.eq(ticket_id))
        .order_by_asc(message::Column::Id)
        .all(db)
        .await
}

pub async fn attachments_of_message(
    db: &impl ConnectionTrait,
    message_id: i64,
) -> Result<Vec<attachment::Model>, DbErr> {
    attachment::Entity::find()
        .filter(attachment::Column::MessageId.eq(message_id))
        .order_by_asc(attachment::Column::Id)
        .all(db)
        .await
}

/// Closes a ticket at `now` (used by agents' status changes and by tests that age tickets).
pub async fn set_status(
    db: &impl ConnectionTrait,
    ticket_id: i64,
    status: TicketStatus,
    actor_agent_id: Option<i64>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Ticket, DbErr> {
    let Some(current) = ticket::Entity::find_by_id(ticket_id).one(db).await? else {
        return Err(DbErr::RecordNotFound(format!("ticket {ticket_id}")));
    };
    let mut active: ticket::ActiveModel = current.clone().into();
    active.status = Set(status.as_str().to_string());
    active.updated_at = Set(now);
    active.closed_at = Set((status == TicketStatus::Closed).then_some(now));
    active.waiting_since = Set(if status.is_waiting_for_agent() {
        current.waiting_since.or(Some(now))
    } else {
        None
    });
    let updated = active.update(db).await?;
    if current.status != status.as_str() {
        record_event(
            db,
            ticket_id,
            TicketEventKind::Status,
            Some(&current.status),
            Some(status.as_str()),
            actor_agent_id,
            actor,
            now,
        )
        .await?;
    }
    Ok(updated)
}

/// Marks an address as bouncing, so no further notification goes to it.
pub async fn mark_email_bounced(
    db: &impl ConnectionTrait,
    email: &EmailAddress,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    customer::Entity::update_many()
        .col_expr(customer::Column::EmailBouncedAt, Expr::value(now))
        .filter(customer::Column::Email.eq(email.as_str()))
        .exec(db)
        .await?;
    Ok(())
}

/// The customer's most recently updated ticket, whatever its status (of two updated at the
/// same time, the newer).
pub async fn newest_of_customer(
    db: &impl ConnectionTrait,
    customer_id: i64,
) -> Result<Option<TicketSnapshot>, DbErr> {
    let found = ticket::Entity::find()
        .filter(ticket::Column::CustomerId.eq(customer_id))
        .order_by_desc(ticket::Column::UpdatedAt)
        .order_by_desc(ticket::Column::Id)
        .one(db)
        .await?;
    Ok(found.as_ref().and_then(snapshot))
}

/// The row of a new ticket under `number`.
pub(crate) fn ticket_row(number: String, new: NewTicket<'_>) -> ticket::ActiveModel {
    ticket::ActiveModel {
        id: NotSet,
        number: Set(number),
        subject: Set(new.subject.to_string()),
        status: Set(TicketStatus::Open.as_str().to_string()),
        priority: Set(Priority::Normal.as_str().to_string()),
        channel: Set(new.channel.as_str().to_string()),
        customer_id: Set(new.customer_id),
        department_id: Set(new.department_id),
        assignee_id: Set(None),
        follows_ticket_id: Set(new.follows_ticket_id),
        noted_reference: Set(new.noted_reference),
        thread_message_id: Set(new.thread_message_id),
        waiting_since: Set(Some(new.now)),
        first_response_due_at: Set(None),
        resolution_due_at: Set(None),
        closed_at: Set(None),
        created_at: Set(new.now),
        updated_at: Set(new.now),
    }
}

/// The row of a new message.
pub(crate) fn message_row(new: NewMessage<'_>) -> message::ActiveModel {
    message::ActiveModel {
        id: NotSet,
        ticket_id: Set(new.ticket_id),
        direction: Set(new.direction.as_str().to_string()),
        channel: Set(new.channel.as_str().to_string()),
        author_agent_id: Set(new.author_agent_id),
        author: Set(new.author.map(str::to_string)),
        body_text: Set(new.body_text.to_string()),
        quoted_text: Set(new.quoted_text.map(str::to_string)),
        body_html: Set(new.body_html.map(str::to_string)),
        message_id: Set(new.message_id.map(str::to_string)),
        in_reply_to: Set(new.in_reply_to),
        references_header: Set(new.references),
        provider_message_id: Set(new.provider_message_id.map(str::to_string)),
        raw_source: Set(new.raw_source.map(<[u8]>::to_vec)),
        created_at: Set(new.now),
    }
}
