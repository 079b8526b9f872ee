//! What every SMS webhook does, whatever the provider: read at most 64 KB, authenticate before
//! parsing, check the sender's number and its rate, store through the group commit, answer.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use sha2::Digest;

use super::limits::{InboundLimits, OverLimit};
use super::{AuthFailure, InboundSmsProvider, ReceivedSms, SmsFieldError, WebhookRequest};
use crate::clock::SharedClock;
use crate::domain::contact::PhoneNumber;
use crate::domain::message::{AutomationSignals, InboundMessage, Sender};
use crate::domain::ticket::Channel;
use crate::intake::InboundItem;
use crate::intake::group_commit::{GroupCommitError, GroupCommitLimits, GroupCommitter};
use crate::web::WebState;

/// The largest request body accepted (64 KB); larger ones are answered 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long a provider is asked to wait before retrying after a failed commit.
const RETRY_AFTER_UNAVAILABLE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the body is over {MAX_BODY_BYTES} bytes")]
    BodyTooLarge,
    #[error("the body could not be read: {0}")]
    BodyUnreadable(String),
    #[error("not authenticated: {0}")]
    Unauthenticated(AuthFailure),
    #[error("too many requests that failed authentication from this address")]
    TooManyUnauthenticated(OverLimit),
    #[error(transparent)]
    BadField(#[from] SmsFieldError),
    #[error("field `{field}` is not a phone number: {value:?}")]
    BadSender { field: &'static str, value: String },
    #[error("too many messages from {sender} this minute")]
    TooManyFromSender { sender: String, limit: OverLimit },
    #[error("the message could not be stored now, retry later ({0})")]
    NotStored(GroupCommitError),
}

impl WebhookError {
    fn status(&self) -> StatusCode {
        match self {
            WebhookError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            WebhookError::BodyUnreadable(_)
            | WebhookError::BadField(_)
            | WebhookError::BadSender { .. } => StatusCode::BAD_REQUEST,
            WebhookError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            WebhookError::TooManyUnauthenticated(_) | WebhookError::TooManyFromSender { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            WebhookError::NotStored(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn field(&self) -> Option<&'static str> {
        match self {
            WebhookError::BadField(error) => error.field(),
            WebhookError::BadSender { field, .. } => Some(field),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            WebhookError::TooManyUnauthenticated(limit)
            | WebhookError::TooManyFromSender { limit, .. } => Some(limit.retry_after),
            WebhookError::NotStored(_) => Some(RETRY_AFTER_UNAVAILABLE),
            _ => None,
        }
    }
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.to_string() });
        if let Some(field) = self.field() {
            body["field"] = serde_json::Value::from(field);
        }
        let mut response = (self.status(), Json(body)).into_response();
        if let Some(wait) = self.retry_after() {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}

/// What the SMS endpoints share: the committer, the limits, the region for national numbers.
pub struct SmsInbound {
    committer: GroupCommitter,
    limits: InboundLimits,
    default_region: String,
    clock: SharedClock,
    senders: SenderCache,
}

/// Sender fields already read as phone numbers: parsing one with the full numbering plan costs
/// tens of microseconds, and the same senders write again and again.
struct SenderCache {
    parsed: Mutex<HashMap<String, PhoneNumber>>,
}

/// Senders remembered at most; the cache starts over when it is full.
const SENDERS_CACHED: usize = 16_384;

impl SenderCache {
    fn new() -> Self {
        Self {
            parsed: Mutex::new(HashMap::new()),
        }
    }

    /// `from` in E.164, or `None` when it is no phone number.
    fn parse(&self, from: &str, default_region: &str) -> Option<PhoneNumber> {
        if let Some(known) = self.lock().get(from) {
            return Some(known.clone());
        }
        let parsed = PhoneNumber::parse(from, default_region).ok()?;
        let mut cache = self.lock();
        if cache.len() >= SENDERS_CACHED {
            cache.clear();
        }
        cache.insert(from.to_string(), parsed.clone());
        Some(parsed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, PhoneNumber>> {
        // A panic while holding the lock leaves a consistent map: keep using it.
        self.parsed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl SmsInbound {
    pub fn new(state: &WebState) -> Self {
        let sms = &state.settings.sms;
        Self {
            committer: GroupCommitter::new(
                state.intake.clone(),
                GroupCommitLimits::new(
                    usize::try_from(sms.group_commit_max_batch).unwrap_or(usize::MAX),
                    Duration::from_millis(sms.group_commit_max_wait_ms),
                ),
            ),
            limits: InboundLimits::new(
                sms.inbound_per_number_per_minute,
                sms.unauthenticated_per_address_per_minute,
            ),
            default_region: sms.default_region.clone(),
            clock: state.clock.clone(),
            senders: SenderCache::new(),
        }
    }

    /// The message intake receives: channel SMS, source `sms:<provider>`, the provider's id.
    fn inbound_message(
        &self,
        provider: &str,
        sender: PhoneNumber,
        sms: ReceivedSms,
    ) -> InboundMessage {
        let content_hash = format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(sms.text.as_bytes()))
        );
        InboundMessage {
            channel: Channel::Sms,
            source: format!("sms:{provider}"),
            external_id: sms.id.clone(),
            sender: Sender {
                name: None,
                email: None,
                phone: Some(sender),
            },
            subject: None,
            text: sms.text,
            html: None,
            attachments: Vec::new(),
            message_id: None,
            in_reply_to: Vec::new(),
            references: Vec::new(),
            provider_message_id: Some(sms.id),
            signals: AutomationSignals::default(),
            raw: None,
            content_hash,
            received_at: sms.received_at.unwrap_or_else(|| self.clock.now()),
            department: None,
        }
    }
}

/// One provider's endpoint.
#[derive(Clone)]
pub struct Endpoint {
    pub provider: Arc<dyn InboundSmsProvider>,
    pub inbound: Arc<SmsInbound>,
}

pub async fn receive(State(endpoint): State<Endpoint>, request: Request) -> Response {
    let provider = endpoint.provider.name();
    match endpoint.handle(request).await {
        Ok(response) => response,
        Err(error) => {
            match &error {
                WebhookError::NotStored(_) => {
                    tracing::error!(provider, %error, "inbound SMS not stored")
                }
                WebhookError::Unauthenticated(_) | WebhookError::TooManyUnauthenticated(_) => {
                    tracing::warn!(provider, %error, "inbound SMS request refused")
                }
                _ => tracing::info!(provider, %error, "inbound SMS request refused"),
            }
            error.into_response()
        }
    }
}

impl Endpoint {
    async fn handle(&self, request: Request) -> Result<Response, WebhookError> {
        let (parts, body) = request.into_parts();
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        if declared_length(&parts.headers).is_some_and(|length| length > MAX_BODY_BYTES) {
            return Err(WebhookError::BodyTooLarge);
        }
        let body = read_body(body).await?;
        let request = WebhookRequest {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            body: &body,
        };
        if let Err(failure) = self.provider.authenticate(&request) {
            return Err(self.refuse_unauthenticated(client, failure));
        }
        let sms = self.provider.parse(&request)?;
        let sender = self
            .inbound
            .senders
            .parse(&sms.from, &self.inbound.default_region)
            .ok_or_else(|| WebhookError::BadSender {
                field: sms.from_field,
                value: sms.from.clone(),
            })?;
        self.inbound.limits.admit_sender(&sender).map_err(|limit| {
            WebhookError::TooManyFromSender {
                sender: sender.to_string(),
                limit,
            }
        })?;
        let message = self
            .inbound
            .inbound_message(self.provider.name(), sender, sms);
        let result = self
            .inbound
            .committer
            .submit(InboundItem::Parsed(Box::new(message)))
            .await
            .map_err(WebhookError::NotStored)?;
        Ok(self.provider.accepted(&result))
    }

    fn refuse_unauthenticated(&self, client: Option<IpAddr>, failure: AuthFailure) -> WebhookError {
        match self.inbound.limits.admit_unauthenticated(client) {
            Ok(()) => WebhookError::Unauthenticated(failure),
            Err(limit) => WebhookError::TooManyUnauthenticated(limit),
        }
    }
}

fn declared_length(headers: &axum::http::HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// The whole body, or `BodyTooLarge` as soon as it passes [`MAX_BODY_BYTES`].
async fn read_body(body: Body) -> Result<Vec<u8>, WebhookError> {
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| WebhookError::BodyUnreadable(e.to_string()))?;
        if bytes.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(WebhookError::BodyTooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}
