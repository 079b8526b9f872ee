//! SMS out: one [`SmsSender`] per provider, chosen by `sms.provider`.

pub mod generic;
pub mod kavenegar;
pub mod log;
pub mod twilio;

use std::future::Future;
use std::time::Duration;

use super::SendError;
use crate::config::{Settings, SmsProviderKind};

/// One text to one number.
#[derive(Debug, Clone)]
pub struct SmsMessage<'a> {
    /// E.164, e.g. `+989121234567`.
    pub to: &'a str,
    pub text: &'a str,
    /// Peyk's id of the notification (the outbox row), for providers that take one.
    pub id: &'a str,
}

/// A provider's outbound API.
pub trait SmsSender: Send + Sync {
    /// Sends one text; answers the provider's message id when it gives one.
    fn send(
        &self,
        message: &SmsMessage<'_>,
    ) -> impl Future<Output = Result<Option<String>, SendError>> + Send;
}

#[derive(Debug, thiserror::Error)]
#[error("config key `sms.{key}`: {message}")]
pub struct SmsSetupError {
    pub key: String,
    pub message: String,
}

/// The configured provider.
pub enum SmsProvider {
    Log(log::LogSender),
    Generic(generic::GenericSender),
    Twilio(twilio::TwilioSender),
    Kavenegar(kavenegar::KavenegarSender),
}

impl SmsProvider {
    pub fn from_settings(settings: &Settings) -> Result<Self, SmsSetupError> {
        let missing = |key: &str| SmsSetupError {
            key: key.to_string(),
            message: format!("required when sms.provider = {:?}", provider_name(settings)),
        };
        Ok(match settings.sms.provider {
            SmsProviderKind::Log => SmsProvider::Log(log::LogSender),
            SmsProviderKind::Generic => {
                let g = settings.sms.generic.clone().unwrap_or_default();
                SmsProvider::Generic(generic::GenericSender::new(
                    http_client()?,
                    g.api_url.ok_or_else(|| missing("generic.api_url"))?,
                    g.api_key.ok_or_else(|| missing("generic.api_key"))?,
                ))
            }
            SmsProviderKind::Twilio => {
                let t = settings.sms.twilio.clone().unwrap_or_default();
                SmsProvider::Twilio(twilio::TwilioSender::new(
                    http_client()?,
                    t.api_base
                        .unwrap_or_else(|| twilio::DEFAULT_API_BASE.to_string()),
                    t.account_sid.ok_or_else(|| missing("twilio.account_sid"))?,
                    t.auth_token.ok_or_else(|| missing("twilio.auth_token"))?,
                    t.from.ok_or_else(|| missing("twilio.from"))?,
                ))
            }
            SmsProviderKind::Kavenegar => {
                let k = settings.sms.kavenegar.clone().unwrap_or_default();
                SmsProvider::Kavenegar(kavenegar::KavenegarSender::new(
                    http_client()?,
                    k.api_base
                        .unwrap_or_else(|| kavenegar::DEFAULT_API_BASE.to_string()),
                    k.api_key.ok_or_else(|| missing("kavenegar.api_key"))?,
                    k.sender.ok_or_else(|| missing("kavenegar.sender"))?,
                ))
            }
        })
    }
}

impl SmsSender for SmsProvider {
    async fn send(&self, message: &SmsMessage<'_>) -> Result<Option<String>, SendError> {
        match self {
            SmsProvider::Log(s) => s.send(message).await,
            SmsProvider::Generic(s) => s.send(message).await,
            SmsProvider::Twilio(s) => s.send(message).await,
            SmsProvider::Kavenegar(s) => s.send(message).await,
        }
    }
}

fn provider_name(settings: &Settings) -> &'static str {
    match settings.sms.provider {
        SmsProviderKind::Log => "log",
        SmsProviderKind::Generic => "generic",
        SmsProviderKind::Twilio => "twilio",
        SmsProviderKind::Kavenegar => "kavenegar",
    }
}

/// An HTTPS client with rustls (ring) and a bounded wait.
pub fn http_client() -> Result<reqwest::Client, SmsSetupError> {
    // Another part of the process may have installed the provider already: that is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| SmsSetupError {
            key: "provider".into(),
            message: format!("cannot build the HTTP client: {e}"),
        })
}

/// A request that got no HTTP answer (connection refused, reset, timeout): try again later.
pub(crate) fn request_error(provider: &str, e: &reqwest::Error) -> SendError {
    SendError::transient(format!("{provider}: request failed: {e}"))
}

/// The common HTTP rule: 429 and 5xx are worth another try, any other 4xx is final.
pub(crate) fn status_error(provider: &str, status: reqwest::StatusCode, body: &str) -> SendError {
    let body: String = body.chars().take(300).collect();
    let message = format!("{provider}: HTTP {status}: {body}");
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        SendError::transient(message)
    } else {
        SendError::permanent(message)
    }
}
