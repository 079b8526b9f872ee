//! HTTP: health and readiness, the inbound SMS webhooks; the agent view and JSON API join here.

pub mod health;

use std::sync::Arc;

use axum::Router;

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::inbound::email::MailboxMonitor;
use crate::intake::Intake;
use crate::store::Store;

/// What every handler may use.
#[derive(Clone)]
pub struct WebState {
    pub store: Store,
    pub intake: Intake,
    /// What each mailbox poller last reported.
    pub mailboxes: MailboxMonitor,
    pub settings: Arc<Settings>,
    pub clock: SharedClock,
}

pub fn router(state: WebState) -> Router {
    Router::new()
        .merge(health::routes())
        .merge(crate::inbound::sms::routes(&state))
        .with_state(state)
}
