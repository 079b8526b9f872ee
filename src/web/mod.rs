//! HTTP: health and readiness, the inbound SMS webhooks, the agent web view and the JSON API.

pub mod api;
pub mod auth;
pub mod download;
pub mod health;
pub mod i18n;
pub mod pages;

use std::sync::Arc;

use axum::{Extension, Router, middleware};

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
    let auth = Arc::new(auth::AuthShared::new(&state.settings));
    let pages = pages::routes().layer(middleware::from_fn_with_state(
        state.clone(),
        auth::page_gate,
    ));
    Router::new()
        .merge(pages)
        .merge(api::routes())
        .layer(middleware::from_fn(auth::security_headers))
        .layer(Extension(auth))
        .merge(health::routes())
        .merge(crate::inbound::sms::routes(&state))
        .with_state(state)
}
