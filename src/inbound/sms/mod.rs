//! SMS in: provider webhooks (generic, twilio, kavenegar) become `InboundMessage`s.

use axum::Router;

use crate::web::WebState;

/// The inbound SMS endpoints under `/webhooks/sms/`.
pub fn routes(_state: &WebState) -> Router<WebState> {
    Router::new()
}
