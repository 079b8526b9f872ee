//! SMS in: provider webhooks (generic, twilio, kavenegar) become `InboundMessage`s.
//!
//! Every provider is one file implementing [`InboundSmsProvider`]: how its requests are
//! authenticated, where its fields are, what it expects as an answer. The rest is shared
//! ([`webhook`]): the 64 KB body limit, authentication before parsing, the rate limits, the
//! sender's number in E.164, and the group commit that answers only once the message is
//! durably stored. An endpoint exists only when its provider's secret is configured.

pub mod form;
pub mod generic;
pub mod kavenegar;
pub mod limits;
pub mod twilio;
mod webhook;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use chrono::{DateTime, Utc};

use crate::config::Settings;
use crate::intake::IntakeResult;
use crate::web::WebState;

pub use webhook::{MAX_BODY_BYTES, WebhookError};

/// One SMS provider's inbound webhook.
pub trait InboundSmsProvider: Send + Sync + 'static {
    /// The provider's name: the endpoint is `/webhooks/sms/<name>`, receipts say `sms:<name>`.
    fn name(&self) -> &'static str;

    /// The HTTP methods the provider calls with.
    fn methods(&self) -> MethodFilter {
        MethodFilter::POST
    }

    /// Checks the request's signature or token. Runs on the raw request, before any field is
    /// read from the body.
    fn authenticate(&self, request: &WebhookRequest<'_>) -> Result<(), AuthFailure>;

    /// Reads the message from an authenticated request.
    fn parse(&self, request: &WebhookRequest<'_>) -> Result<ReceivedSms, SmsFieldError>;

    /// The answer once the message is stored (or was stored before).
    fn accepted(&self, result: &IntakeResult) -> Response {
        Json(serde_json::json!({
            "outcome": result.outcome.as_str(),
            "ticket_number": result.ticket_number,
            "duplicate": result.duplicate,
        }))
        .into_response()
    }
}

/// A webhook call as received: what authentication and parsing read.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

impl WebhookRequest<'_> {
    /// A header's value, when it is there and readable as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The raw query string, without `?`; empty when there is none.
    pub fn query(&self) -> &str {
        self.uri.query().unwrap_or("")
    }
}

/// One SMS as a provider reported it, before the sender's number is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedSms {
    /// The provider's message id: the receipt's external id, so a retry is recognised.
    pub id: String,
    pub from: String,
    /// The provider's name of the sender field, for the error when `from` is no phone number.
    pub from_field: &'static str,
    pub to: String,
    pub text: String,
    pub received_at: Option<DateTime<Utc>>,
}

/// Why a request's credentials were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("{0} does not match")]
    Mismatch(&'static str),
}

/// Why an authenticated request holds no usable SMS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsFieldError {
    #[error("the body is not {expected}: {detail}")]
    MalformedBody {
        expected: &'static str,
        detail: String,
    },
    #[error("missing field `{0}`")]
    Missing(&'static str),
    #[error("field `{field}` {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
}

impl SmsFieldError {
    /// The field the error is about, when it is about one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            SmsFieldError::MalformedBody { .. } => None,
            SmsFieldError::Missing(field) | SmsFieldError::Invalid { field, .. } => Some(field),
        }
    }
}

/// The longest provider message id kept (ids are short; a huge one is not a real id).
pub const MAX_ID_CHARS: usize = 255;

/// Checks a provider message id: present, not blank, not absurdly long.
pub fn checked_id(field: &'static str, id: &str) -> Result<String, SmsFieldError> {
    let id = id.trim();
    if id.is_empty() {
        return Err(SmsFieldError::Invalid {
            field,
            problem: "is empty".into(),
        });
    }
    if id.chars().count() > MAX_ID_CHARS {
        return Err(SmsFieldError::Invalid {
            field,
            problem: format!("is longer than {MAX_ID_CHARS} characters"),
        });
    }
    Ok(id.to_string())
}

/// The providers whose inbound secret is configured.
pub fn configured_providers(settings: &Settings) -> Vec<Arc<dyn InboundSmsProvider>> {
    let mut providers: Vec<Arc<dyn InboundSmsProvider>> = Vec::new();
    if let Some(provider) = generic::Generic::from_settings(settings) {
        providers.push(Arc::new(provider));
    }
    if let Some(provider) = twilio::Twilio::from_settings(settings) {
        providers.push(Arc::new(provider));
    }
    if let Some(provider) = kavenegar::Kavenegar::from_settings(settings) {
        providers.push(Arc::new(provider));
    }
    providers
}

/// A configured secret: present and not blank.
fn configured_secret(secret: Option<&String>) -> Option<String> {
    secret.filter(|s| !s.trim().is_empty()).cloned()
}

/// The inbound SMS endpoints under `/webhooks/sms/`, one per configured provider.
pub fn routes(state: &WebState) -> Router<WebState> {
    let providers = configured_providers(&state.settings);
    if providers.is_empty() {
        return Router::new();
    }
    let inbound = Arc::new(webhook::SmsInbound::new(state));
    providers
        .into_iter()
        .fold(Router::new(), |router, provider| {
            let path = format!("/webhooks/sms/{}", provider.name());
            let methods = provider.methods();
            let endpoint = webhook::Endpoint {
                provider,
                inbound: inbound.clone(),
            };
            router.merge(
                Router::new()
                    .route(&path, on(methods, webhook::receive))
                    .with_state(endpoint),
            )
        })
}
