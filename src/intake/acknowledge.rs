//! The acknowledgement of a new ticket: who gets it, on which channel, and its outbox row.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::IntakeRules;
use crate::domain::contact::EmailAddress;
use crate::domain::message::InboundMessage;
use crate::domain::ticket::{Channel, Language};
use crate::outbound::render;
use crate::store::outbox::NewNotification;
use crate::store::tickets::{Customer, Ticket};
use crate::store::{self, DbErr};

/// Where an acknowledgement goes; decided before the ticket exists, so the ticket can carry
/// the acknowledgement's Message-ID from its first write.
#[derive(Debug, Clone)]
pub(super) struct AcknowledgementPlan {
    pub channel: Channel,
    pub recipient: String,
    pub language: Language,
    /// For email: the Message-ID the acknowledgement will carry.
    pub message_id: Option<String>,
}

/// The channel the message came in on, unless the address bounced, is Peyk's own, or is missing.
pub(super) fn plan(
    rules: &IntakeRules,
    m: &InboundMessage,
    customer: &Customer,
) -> Option<AcknowledgementPlan> {
    let language = customer
        .language
        .as_deref()
        .and_then(Language::parse)
        .unwrap_or(rules.default_language);
    match m.channel {
        Channel::Sms => {
            let phone = customer
                .phone
                .clone()
                .filter(|_| customer.phone_bounced_at.is_none())?;
            Some(AcknowledgementPlan {
                channel: Channel::Sms,
                recipient: phone,
                language,
                message_id: None,
            })
        }
        Channel::Email | Channel::Web => {
            let email = customer
                .email
                .clone()
                .filter(|_| customer.email_bounced_at.is_none())?;
            let own = EmailAddress::parse(&email)
                .map(|e| rules.own_addresses.contains(&e))
                .unwrap_or(true);
            if own {
                return None;
            }
            Some(AcknowledgementPlan {
                channel: Channel::Email,
                recipient: email,
                language,
                message_id: Some(new_message_id(&rules.message_id_domain)),
            })
        }
    }
}

/// A fresh Message-ID in Peyk's domain.
pub fn new_message_id(domain: &str) -> String {
    use rand::Rng;
    let token: u128 = rand::rng().random();
    format!("<peyk.{token:032x}@{domain}>")
}

pub(super) async fn enqueue(
    db: &impl ConnectionTrait,
    plan: AcknowledgementPlan,
    m: &InboundMessage,
    ticket: &Ticket,
    customer: &Customer,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let notification = notification(
        plan,
        m,
        ticket.id,
        &ticket.number,
        &ticket.subject,
        customer,
    )?;
    store::outbox::enqueue(db, notification, now).await?;
    Ok(())
}

/// The outbox row of an acknowledgement of ticket `ticket_id`.
pub(super) fn notification(
    plan: AcknowledgementPlan,
    m: &InboundMessage,
    ticket_id: i64,
    ticket_number: &str,
    ticket_subject: &str,
    customer: &Customer,
) -> Result<NewNotification, DbErr> {
    let rendered = render::ticket_received(
        plan.language,
        ticket_number,
        ticket_subject,
        customer.name.as_deref(),
    )
    .map_err(|e| DbErr::Custom(e.to_string()))?;
    Ok(match plan.channel {
        Channel::Sms => NewNotification {
            ticket_id,
            ticket_message_id: None,
            channel: Channel::Sms.as_str().into(),
            kind: "ticket_received".into(),
            recipient: plan.recipient,
            language: plan.language.as_str().into(),
            subject: None,
            body_text: rendered.sms_text,
            body_html: None,
            message_id: None,
            in_reply_to: None,
            references: None,
        },
        Channel::Email | Channel::Web => {
            let mut references = m.references.clone();
            if let Some(own) = &m.message_id
                && !references.contains(own)
            {
                references.push(own.clone());
            }
            NewNotification {
                ticket_id,
                ticket_message_id: None,
                channel: Channel::Email.as_str().into(),
                kind: "ticket_received".into(),
                recipient: plan.recipient,
                language: plan.language.as_str().into(),
                subject: Some(rendered.email_subject),
                body_text: rendered.email_text,
                body_html: Some(rendered.email_html),
                message_id: plan.message_id,
                in_reply_to: m.message_id.clone(),
                references: (!references.is_empty()).then(|| references.join(" ")),
            }
        }
    })
}
