//! Agents answering and closing tickets: the message (or internal note), the status change
//! with its event, and the customer's notification in the outbox, all in one transaction.

use crate::clock::Clock;
use crate::config::{Settings, sender_address};
use crate::domain::contact::EmailAddress;
use crate::domain::ticket::{Channel, Direction, Language, TicketStatus};
use crate::intake::new_message_id;
use crate::outbound::render::{self, NotificationContext, NotificationKind};
use crate::store::entities::message;
use crate::store::outbox::{NewNotification, OutboxItem};
use crate::store::tickets::{Customer, NewMessage, Ticket};
use crate::store::{self, DbErr, Store};

/// What replies need from the settings, resolved once.
#[derive(Debug, Clone)]
pub struct ReplyRules {
    /// Domain of generated Message-IDs (the no-reply sender's).
    pub message_id_domain: String,
    pub default_language: Language,
    pub own_addresses: Vec<EmailAddress>,
    pub max_segments: usize,
}

impl ReplyRules {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            message_id_domain: sender_address(&settings.notify.from)
                .map(|a| a.domain().to_string())
                .unwrap_or_else(|| "peyk.invalid".into()),
            default_language: settings.app.default_language,
            own_addresses: settings.own_addresses(),
            max_segments: usize::try_from(settings.sms.max_segments.max(1)).unwrap_or(2),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    #[error("ticket {0} not found")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Render(String),
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

/// A stored reply and the notification it put in the outbox (none for an internal note, or
/// when the customer has no usable address).
#[derive(Debug, Clone)]
pub struct Reply {
    pub message: message::Model,
    pub notification: Option<OutboxItem>,
}

/// Stores an agent's reply (or, with `internal`, a note no customer sees) in ticket
/// `ticket_number`. A reply sets the ticket `answered` (with an event) and enqueues an
/// `agent_reply` notification through the ticket's channel (the other one when that one
/// bounced): by email with a fresh Message-ID, In-Reply-To the customer's last Message-ID and
/// the subject `[#NUMBER] subject`. Poke `Intake::outbox_wakeup` after it returns.
pub async fn reply_to_ticket(
    store: &Store,
    clock: &dyn Clock,
    rules: &ReplyRules,
    ticket_number: &str,
    agent_id: i64,
    body: &str,
    internal: bool,
) -> Result<Reply, ReplyError> {
    let body = body.trim();
    if body.is_empty() {
        return Err(ReplyError::Invalid("the reply is empty".into()));
    }
    let now = clock.now();
    let write = store.begin_write().await?;
    let txn = &write.txn;
    let (ticket, customer) = load(txn, ticket_number).await?;
    let author = store::outbox::agent_name(txn, agent_id)
        .await?
        .ok_or_else(|| ReplyError::Invalid(format!("agent {agent_id} not found")))?;
    let route = if internal {
        None
    } else {
        route(rules, &ticket, &customer)
    };
    let email_id = route
        .as_ref()
        .filter(|(channel, _)| *channel == Channel::Email)
        .map(|_| new_message_id(&rules.message_id_domain));
    let threading = threading(txn, &ticket).await?;
    let message_channel = match &route {
        Some((channel, _)) => *channel,
        None => Channel::parse(&ticket.channel).unwrap_or(Channel::Email),
    };
    let stored = store::tickets::insert_message(
        txn,
        NewMessage {
            ticket_id: ticket.id,
            direction: if internal {
                Direction::Note
            } else {
                Direction::Outbound
            },
            channel: message_channel,
            author_agent_id: Some(agent_id),
            author: Some(&author),
            body_text: body,
            quoted_text: None,
            body_html: None,
            message_id: email_id.as_deref(),
            in_reply_to: email_id.as_ref().and(threading.in_reply_to.clone()),
            references: email_id.as_ref().and(threading.references.clone()),
            provider_message_id: None,
            raw_source: None,
            now,
        },
    )
    .await?;
    let mut notification = None;
    if !internal {
        store::tickets::set_status(
            txn,
            ticket.id,
            TicketStatus::Answered,
            Some(agent_id),
            "agent",
            now,
        )
        .await?;
        if let Some((channel, recipient)) = route {
            let ctx = context(rules, &ticket, &customer, Some(&author), body);
            let rendered =
                render::agent_reply(&ctx).map_err(|e| ReplyError::Render(e.to_string()))?;
            notification = Some(
                store::outbox::enqueue(
                    txn,
                    notification_row(
                        NotificationKind::AgentReply,
                        &ticket,
                        Some(stored.id),
                        channel,
                        recipient,
                        ctx.language,
                        rendered,
                        email_id,
                        &threading,
                    ),
                    now,
                )
                .await?,
            );
        }
    }
    write.commit().await?;
    Ok(Reply {
        message: stored,
        notification,
    })
}

/// Closes ticket `ticket_number` (with an event) and enqueues a `ticket_closed` notification.
/// A ticket that is already closed is answered as it is, with no notification.
pub async fn close_ticket(
    store: &Store,
    clock: &dyn Clock,
    rules: &ReplyRules,
    ticket_number: &str,
    agent_id: Option<i64>,
) -> Result<(Ticket, Option<OutboxItem>), ReplyError> {
    let now = clock.now();
    let write = store.begin_write().await?;
    let txn = &write.txn;
    let (ticket, customer) = load(txn, ticket_number).await?;
    if ticket.status == TicketStatus::Closed.as_str() {
        return Ok((ticket, None));
    }
    let updated =
        store::tickets::set_status(txn, ticket.id, TicketStatus::Closed, agent_id, "agent", now)
            .await?;
    let mut notification = None;
    if let Some((channel, recipient)) = route(rules, &ticket, &customer) {
        let ctx = context(rules, &ticket, &customer, None, "");
        let rendered =
            render::ticket_closed(&ctx).map_err(|e| ReplyError::Render(e.to_string()))?;
        let threading = threading(txn, &ticket).await?;
        let email_id =
            (channel == Channel::Email).then(|| new_message_id(&rules.message_id_domain));
        notification = Some(
            store::outbox::enqueue(
                txn,
                notification_row(
                    NotificationKind::TicketClosed,
                    &ticket,
                    None,
                    channel,
                    recipient,
                    ctx.language,
                    rendered,
                    email_id,
                    &threading,
                ),
                now,
            )
            .await?,
        );
    }
    write.commit().await?;
    Ok((updated, notification))
}

async fn load(
    txn: &impl sea_orm::ConnectionTrait,
    ticket_number: &str,
) -> Result<(Ticket, Customer), ReplyError> {
    let ticket = store::tickets::find_by_number(txn, ticket_number.trim())
        .await?
        .ok_or_else(|| ReplyError::NotFound(ticket_number.to_string()))?;
    store::outbox::ticket_and_customer(txn, ticket.id)
        .await?
        .ok_or_else(|| ReplyError::NotFound(ticket_number.to_string()))
}

/// The ticket's channel when the customer can be reached on it, else the other one.
fn route(rules: &ReplyRules, ticket: &Ticket, customer: &Customer) -> Option<(Channel, String)> {
    let email = customer
        .email
        .clone()
        .filter(|_| customer.email_bounced_at.is_none())
        .filter(|e| EmailAddress::parse(e).is_ok_and(|a| !rules.own_addresses.contains(&a)))
        .map(|e| (Channel::Email, e));
    let phone = customer
        .phone
        .clone()
        .filter(|_| customer.phone_bounced_at.is_none())
        .map(|p| (Channel::Sms, p));
    if ticket.channel == Channel::Sms.as_str() {
        phone.or(email)
    } else {
        email.or(phone)
    }
}

fn context<'a>(
    rules: &ReplyRules,
    ticket: &'a Ticket,
    customer: &'a Customer,
    agent_name: Option<&'a str>,
    body: &'a str,
) -> NotificationContext<'a> {
    NotificationContext {
        language: customer
            .language
            .as_deref()
            .and_then(Language::parse)
            .unwrap_or(rules.default_language),
        number: &ticket.number,
        subject: &ticket.subject,
        customer_name: customer.name.as_deref(),
        agent_name,
        body,
        max_segments: rules.max_segments,
    }
}

/// In-Reply-To and References of a message Peyk sends into a ticket.
struct Threading {
    in_reply_to: Option<String>,
    references: Option<String>,
}

/// The customer's last inbound Message-ID, and the chain it belongs to.
async fn threading(
    txn: &impl sea_orm::ConnectionTrait,
    ticket: &Ticket,
) -> Result<Threading, DbErr> {
    let messages = store::tickets::messages_of_ticket(txn, ticket.id).await?;
    let last_inbound = messages
        .iter()
        .rev()
        .find(|m| m.direction == Direction::Inbound.as_str() && m.message_id.is_some());
    let mut references: Vec<String> = Vec::new();
    if let Some(m) = last_inbound {
        references.extend(
            m.references_header
                .as_deref()
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_string),
        );
    }
    if let Some(thread) = &ticket.thread_message_id
        && !references.contains(thread)
    {
        references.insert(0, thread.clone());
    }
    let in_reply_to = last_inbound.and_then(|m| m.message_id.clone());
    if let Some(id) = &in_reply_to
        && !references.contains(id)
    {
        references.push(id.clone());
    }
    Ok(Threading {
        in_reply_to,
        references: (!references.is_empty()).then(|| references.join(" ")),
    })
}

#[allow(clippy::too_many_arguments)] // one row, from the parts decided above
fn notification_row(
    kind: NotificationKind,
    ticket: &Ticket,
    ticket_message_id: Option<i64>,
    channel: Channel,
    recipient: String,
    language: Language,
    rendered: render::RenderedNotification,
    email_id: Option<String>,
    threading: &Threading,
) -> NewNotification {
    match channel {
        Channel::Sms => NewNotification {
            ticket_id: ticket.id,
            ticket_message_id,
            channel: Channel::Sms.as_str().into(),
            kind: kind.as_str().into(),
            recipient,
            language: language.as_str().into(),
            subject: None,
            body_text: rendered.sms_text,
            body_html: None,
            message_id: None,
            in_reply_to: None,
            references: None,
        },
        Channel::Email | Channel::Web => NewNotification {
            ticket_id: ticket.id,
            ticket_message_id,
            channel: Channel::Email.as_str().into(),
            kind: kind.as_str().into(),
            recipient,
            language: language.as_str().into(),
            subject: Some(rendered.email_subject),
            body_text: rendered.email_text,
            body_html: Some(rendered.email_html),
            message_id: email_id,
            in_reply_to: threading.in_reply_to.clone(),
            references: threading.references.clone(),
        },
    }
}
