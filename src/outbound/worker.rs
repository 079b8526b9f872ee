//! The outbox worker: claims due notifications one at a time (a lease in the row, so several
//! `serve` processes on one PostgreSQL never send the same one twice), applies the loop
//! guards, sends, and records the result.
//!
//! - sent: `sent`, with `sent_at` and the provider's id (the SMTP server's reply for email);
//! - transient failure (SMTP 4xx, no connection, HTTP 429/5xx): stays `pending`, due again
//!   after an exponential backoff with jitter (`notify.retry_base_secs`, doubling up to
//!   `notify.retry_max_secs`); once the next attempt would fall after
//!   `notify.retry_horizon_hours` from its creation, `dead`;
//! - permanent failure (SMTP 5xx, other HTTP 4xx, a bad address): `failed` at once.
//!
//! Loop guards, checked before sending: never to an address of `notify.own_addresses` (or
//! `notify.from`); never to a channel of the customer that bounced: the notification moves to
//! the customer's other channel when there is one (re-rendered from the templates), and fails
//! otherwise; at most `notify.per_recipient_per_hour` automatic notifications (acknowledgements,
//! closings; agents' replies are not counted) per recipient per hour: beyond it the
//! notification is `failed` with a "loop budget" reason rather than deferred, because a
//! recipient that triggers that many automatic mails in an hour is almost always another robot
//! answering ours. The budget is kept in memory, per process.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::SendError;
use super::email::{EmailSender, EmailSetupError};
use super::render::{self, NotificationContext, NotificationKind};
use super::sms::{SmsMessage, SmsProvider, SmsSender, SmsSetupError};
use crate::clock::SharedClock;
use crate::config::{Settings, sender_address};
use crate::domain::contact::EmailAddress;
use crate::domain::ticket::{Channel, Language};
use crate::store::outbox::{self, Completion, OutboxItem, Reroute};
use crate::store::{DbErr, Store};

/// What one call of [`OutboxWorker::try_deliver_next`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Sent,
    /// A transient failure: the notification stays pending and is due again later.
    Retrying,
    /// A permanent failure, or a loop guard refused it.
    Failed,
    /// Transient failures until the retry horizon: given up.
    Dead,
    /// Nothing was due.
    Idle,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboundSetupError {
    #[error(transparent)]
    Email(#[from] EmailSetupError),
    #[error(transparent)]
    Sms(#[from] SmsSetupError),
}

/// Backoff and horizon of transient failures.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max: Duration,
    pub horizon: chrono::Duration,
}

impl RetryPolicy {
    /// The delay before attempt `attempts + 1`: base · 2^(attempts-1), capped, with a random
    /// jitter that takes off up to half of it (so a burst of failures spreads out).
    pub fn delay(&self, attempts: i32) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        let full = self
            .base
            .saturating_mul(1u32 << exponent)
            .min(self.max)
            .max(Duration::from_millis(1));
        let jitter: f64 = rand::random::<f64>() * 0.5;
        full.mul_f64(1.0 - jitter)
    }
}

/// Longest idle sleep: rows written by other processes are found at least this often.
const MAX_IDLE: Duration = Duration::from_secs(30);
const MIN_IDLE: Duration = Duration::from_millis(50);
const ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Delivers the outbox.
#[derive(Clone)]
pub struct OutboxWorker {
    store: Store,
    clock: SharedClock,
    id: String,
    email: Arc<EmailSender>,
    sms: Arc<SmsProvider>,
    policy: RetryPolicy,
    lease: chrono::Duration,
    budget: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    per_recipient_per_hour: u32,
    own: Arc<Vec<EmailAddress>>,
    wakeup: Arc<Notify>,
    max_segments: usize,
    message_id_domain: String,
    concurrency: usize,
}

impl OutboxWorker {
    /// A worker for the configured SMTP (or file) transport and SMS provider. `wakeup` is
    /// poked when something is enqueued (`Intake::outbox_wakeup`).
    pub fn from_settings(
        store: Store,
        clock: SharedClock,
        settings: &Settings,
        wakeup: Arc<Notify>,
    ) -> Result<Self, OutboundSetupError> {
        let email = EmailSender::from_settings(settings)?;
        let sms = SmsProvider::from_settings(settings)?;
        let notify = &settings.notify;
        let budget = NonZeroU32::new(notify.per_recipient_per_hour)
            .map(|n| Arc::new(RateLimiter::keyed(Quota::per_hour(n))));
        Ok(Self {
            store,
            clock,
            id: format!("{}-{:08x}", std::process::id(), rand::random::<u32>()),
            email: Arc::new(email),
            sms: Arc::new(sms),
            policy: RetryPolicy {
                base: Duration::from_secs(notify.retry_base_secs),
                max: Duration::from_secs(notify.retry_max_secs.max(notify.retry_base_secs)),
                horizon: chrono::Duration::hours(i64::from(notify.retry_horizon_hours)),
            },
            lease: chrono::Duration::seconds(
                i64::try_from(notify.lease_secs.max(1)).unwrap_or(300),
            ),
            budget,
            per_recipient_per_hour: notify.per_recipient_per_hour,
            own: Arc::new(settings.own_addresses()),
            wakeup,
            max_segments: usize::try_from(settings.sms.max_segments.max(1)).unwrap_or(2),
            message_id_domain: sender_address(&notify.from)
                .map(|a| a.domain().to_string())
                .unwrap_or_else(|| "peyk.invalid".into()),
            concurrency: usize::try_from(notify.send_concurrency.clamp(1, 64)).unwrap_or(1),
        })
    }

    /// The same worker under another lease name (a second worker in one process).
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn email(&self) -> &EmailSender {
        &self.email
    }

    /// Claims the next due notification and tries it once.
    pub async fn try_deliver_next(&self) -> Result<DeliveryOutcome, DbErr> {
        let now = self.clock.now();
        let claimed = {
            let write = self.store.begin_write().await?;
            let claimed = outbox::claim_next(&write.txn, &self.id, now, now + self.lease).await?;
            write.commit().await?;
            claimed
        };
        let Some(item) = claimed else {
            return Ok(DeliveryOutcome::Idle);
        };
        let result = self.attempt(item.clone()).await?;
        let done_at = self.clock.now();
        let (outcome, completion) = match result {
            Ok(provider_message_id) => (
                DeliveryOutcome::Sent,
                Completion::Sent {
                    provider_message_id,
                    at: done_at,
                },
            ),
            Err(e) if e.transient => {
                let next = done_at
                    + chrono::Duration::from_std(self.policy.delay(item.attempts))
                        .unwrap_or(chrono::Duration::hours(1));
                if next > item.created_at + self.policy.horizon {
                    (
                        DeliveryOutcome::Dead,
                        Completion::Dead {
                            error: format!(
                                "gave up after {} attempts ({} h retry horizon): {}",
                                item.attempts,
                                self.policy.horizon.num_hours(),
                                e.message
                            ),
                        },
                    )
                } else {
                    (
                        DeliveryOutcome::Retrying,
                        Completion::Retry {
                            next_attempt_at: next,
                            error: e.message,
                        },
                    )
                }
            }
            Err(e) => (
                DeliveryOutcome::Failed,
                Completion::Failed { error: e.message },
            ),
        };
        match outcome {
            DeliveryOutcome::Sent => {
                tracing::debug!(id = item.id, kind = %item.kind, channel = %item.channel, "notification sent")
            }
            _ => {
                tracing::warn!(id = item.id, kind = %item.kind, channel = %item.channel, attempts = item.attempts, ?outcome, ?completion, "notification not sent")
            }
        }
        let write = self.store.begin_write().await?;
        let recorded = outbox::complete(&write.txn, item.id, &self.id, completion).await?;
        write.commit().await?;
        if !recorded {
            tracing::warn!(
                id = item.id,
                "the notification changed while it was being sent (lease lost or marked bounced)"
            );
        }
        Ok(outcome)
    }

    /// Delivers until `cancel` with `notify.send_concurrency` loops side by side (one SMTP
    /// exchange waits on the network most of the time; lettre's pool gives each its own
    /// connection). Each loop: after each notification the next one; when nothing is due, it
    /// sleeps until the next due time, the intake's wake-up, or `cancel`. A send in progress
    /// is finished and recorded before the loop stops.
    pub async fn run(self, cancel: CancellationToken) {
        tracing::info!(worker = %self.id, concurrency = self.concurrency, "outbox worker started");
        let loops = (0..self.concurrency).map(|_| self.clone().run_loop(cancel.clone()));
        futures::future::join_all(loops).await;
        tracing::info!(worker = %self.id, "outbox worker stopped");
    }

    async fn run_loop(self, cancel: CancellationToken) {
        loop {
            if cancel.is_cancelled() {
                break;
            }
            let pause = match self.try_deliver_next().await {
                Ok(DeliveryOutcome::Idle) => self.idle_wait().await,
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox worker: database error");
                    ERROR_PAUSE
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = self.wakeup.notified() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    async fn idle_wait(&self) -> Duration {
        let now = self.clock.now();
        match outbox::next_wakeup(self.store.db(), now).await {
            Ok(Some(at)) => (at - now)
                .to_std()
                .unwrap_or(MIN_IDLE)
                .clamp(MIN_IDLE, MAX_IDLE),
            Ok(None) => MAX_IDLE,
            Err(e) => {
                tracing::warn!(error = %e, "outbox worker: database error");
                ERROR_PAUSE
            }
        }
    }

    /// Guards, then one send. The outer error is the database's; the inner one the send's.
    async fn attempt(
        &self,
        mut item: OutboxItem,
    ) -> Result<Result<Option<String>, SendError>, DbErr> {
        let context = outbox::ticket_and_customer(self.store.db(), item.ticket_id).await?;
        if let Some((ticket, customer)) = &context {
            match self.check_channel(&item, ticket, customer).await? {
                ChannelCheck::Ok => {}
                ChannelCheck::Refuse(reason) => return Ok(Err(SendError::permanent(reason))),
                ChannelCheck::Reroute(to) => {
                    let write = self.store.begin_write().await?;
                    item = outbox::reroute(&write.txn, &item, to).await?;
                    write.commit().await?;
                }
            }
        }
        if item.channel == Channel::Email.as_str() && self.is_own(&item.recipient) {
            return Ok(Err(SendError::permanent(format!(
                "{} is one of Peyk's own addresses (notify.own_addresses): never notified",
                item.recipient
            ))));
        }
        let automatic = NotificationKind::parse(&item.kind).is_none_or(|k| k.is_automatic());
        if automatic
            && item.attempts <= 1
            && let Some(budget) = &self.budget
            && budget
                .check_key(&item.recipient.trim().to_lowercase())
                .is_err()
        {
            return Ok(Err(SendError::permanent(format!(
                "loop budget: more than {} automatic notifications to {} within an hour",
                self.per_recipient_per_hour, item.recipient
            ))));
        }
        Ok(match item.channel.as_str() {
            "email" => self.email.send(&item).await,
            "sms" => {
                let id = item.id.to_string();
                self.sms
                    .send(&SmsMessage {
                        to: &item.recipient,
                        text: &item.body_text,
                        id: &id,
                    })
                    .await
            }
            other => Err(SendError::permanent(format!("unknown channel {other:?}"))),
        })
    }

    fn is_own(&self, address: &str) -> bool {
        EmailAddress::parse(address)
            .map(|a| self.own.contains(&a))
            .unwrap_or(false)
    }

    /// Bounced channels: move to the customer's other channel, or refuse.
    async fn check_channel(
        &self,
        item: &OutboxItem,
        ticket: &crate::store::tickets::Ticket,
        customer: &crate::store::tickets::Customer,
    ) -> Result<ChannelCheck, DbErr> {
        let same = |stored: &Option<String>| {
            stored
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(item.recipient.trim()))
        };
        let email_ok = customer
            .email
            .as_deref()
            .filter(|_| customer.email_bounced_at.is_none())
            .filter(|e| !self.is_own(e));
        let phone_ok = customer
            .phone
            .as_deref()
            .filter(|_| customer.phone_bounced_at.is_none());
        let (bounced, fallback) = match item.channel.as_str() {
            "email" => (
                same(&customer.email) && customer.email_bounced_at.is_some(),
                phone_ok.map(|p| (Channel::Sms, p.to_string())),
            ),
            "sms" => (
                same(&customer.phone) && customer.phone_bounced_at.is_some(),
                email_ok.map(|e| (Channel::Email, e.to_string())),
            ),
            _ => (false, None),
        };
        if !bounced {
            return Ok(ChannelCheck::Ok);
        }
        let Some((channel, recipient)) = fallback else {
            return Ok(ChannelCheck::Refuse(format!(
                "{} bounced and the customer has no other channel",
                item.recipient
            )));
        };
        let Some(kind) = NotificationKind::parse(&item.kind) else {
            return Ok(ChannelCheck::Refuse(format!(
                "{} bounced; a {:?} notification cannot move to another channel",
                item.recipient, item.kind
            )));
        };
        let body = match item.ticket_message_id {
            Some(message_id) => {
                crate::store::tickets::messages_of_ticket(self.store.db(), ticket.id)
                    .await?
                    .into_iter()
                    .find(|m| m.id == message_id)
                    .map(|m| m.body_text)
                    .unwrap_or_default()
            }
            None => String::new(),
        };
        let language = Language::parse(&item.language).unwrap_or(Language::Fa);
        let rendered = match render::notification(
            kind,
            &NotificationContext {
                language,
                number: &ticket.number,
                subject: &ticket.subject,
                customer_name: customer.name.as_deref(),
                agent_name: None,
                body: &body,
                max_segments: self.max_segments,
            },
        ) {
            Ok(r) => r,
            Err(e) => {
                return Ok(ChannelCheck::Refuse(format!(
                    "{} bounced; {e}",
                    item.recipient
                )));
            }
        };
        tracing::info!(id = item.id, from = %item.recipient, to = %recipient, "bounced channel: notification moved to the customer's other channel");
        Ok(ChannelCheck::Reroute(match channel {
            Channel::Sms => Reroute {
                channel: Channel::Sms.as_str().into(),
                recipient,
                subject: None,
                body_text: rendered.sms_text,
                body_html: None,
                message_id: None,
            },
            Channel::Email | Channel::Web => Reroute {
                channel: Channel::Email.as_str().into(),
                recipient,
                subject: Some(rendered.email_subject),
                body_text: rendered.email_text,
                body_html: Some(rendered.email_html),
                message_id: Some(crate::intake::new_message_id(&self.message_id_domain)),
            },
        }))
    }
}

enum ChannelCheck {
    Ok,
    Refuse(String),
    Reroute(Reroute),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let policy = RetryPolicy {
            base: Duration::from_secs(30),
            max: Duration::from_secs(3600),
            horizon: chrono::Duration::hours(24),
        };
        for _ in 0..50 {
            let first = policy.delay(1);
            assert!(first >= Duration::from_secs(15) && first <= Duration::from_secs(30));
            let third = policy.delay(3);
            assert!(third >= Duration::from_secs(60) && third <= Duration::from_secs(120));
            let late = policy.delay(40);
            assert!(late >= Duration::from_secs(1800) && late <= Duration::from_secs(3600));
        }
    }
}
