//! HTTP: health and readiness now; the agent view, JSON API and webhooks join here.

pub mod health;

use axum::Router;

use crate::store::Store;

#[derive(Clone)]
pub struct WebState {
    pub store: Store,
}

pub fn router(state: WebState) -> Router {
    Router::new().merge(health::routes()).with_state(state)
}
