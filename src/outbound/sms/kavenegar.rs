//! Kavenegar's `sms/send`: POST `{api_base}/v1/{api_key}/sms/send.json`, form `receptor`,
//! `sender`, `message`. The answer is JSON `{"return": {"status", "message"}, "entries":
//! [{"messageid", ...}]}`; `return.status` 200 means accepted, and the HTTP status repeats it.
//!
//! Kavenegar's documented error statuses, and what Peyk makes of them:
//! - retried later: 409 (the server cannot answer now, try again), 418 (the account's credit
//!   is not enough: an operator tops it up), 429 and 451 (too many requests), and 5xx other
//!   than 501;
//! - final (`failed`): every other status, among them 400/406 (missing parameters), 401
//!   (account disabled), 403 (invalid API key), 411 (invalid receptor), 412 (invalid sender),
//!   413 (message empty or too long), 414 (too many receptors), 416 (calling IP not allowed),
//!   422 (invalid characters), 501 (test accounts may only text the owner's number).

use serde_json::Value;

use super::{SendError, SmsMessage, SmsSender, request_error};

pub const DEFAULT_API_BASE: &str = "https://api.kavenegar.com";

pub struct KavenegarSender {
    client: reqwest::Client,
    api_base: String,
    api_key: String,
    sender: String,
}

impl KavenegarSender {
    pub fn new(client: reqwest::Client, api_base: String, api_key: String, sender: String) -> Self {
        Self {
            client,
            api_base: api_base.trim_end_matches('/').to_string(),
            api_key,
            sender,
        }
    }
}

/// Whether a Kavenegar status is worth another try (see the module documentation).
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 409 | 418 | 429 | 451) || (status >= 500 && status != 501)
}

/// Kavenegar's receptor form: Iranian numbers nationally (`09121234567`), others with `00`.
pub fn receptor(e164: &str) -> String {
    let digits = e164.trim_start_matches('+');
    match digits.strip_prefix("98") {
        Some(national) if e164.starts_with('+') => format!("0{national}"),
        _ if e164.starts_with('+') => format!("00{digits}"),
        _ => e164.to_string(),
    }
}

impl SmsSender for KavenegarSender {
    async fn send(&self, message: &SmsMessage<'_>) -> Result<Option<String>, SendError> {
        let url = format!("{}/v1/{}/sms/send.json", self.api_base, self.api_key);
        let receptor = receptor(message.to);
        let response = self
            .client
            .post(url)
            .form(&[
                ("receptor", receptor.as_str()),
                ("sender", self.sender.as_str()),
                ("message", message.text),
            ])
            .send()
            .await
            .map_err(|e| request_error("kavenegar", &e))?;
        let http_status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        let json = serde_json::from_str::<Value>(&body).ok();
        let returned = json
            .as_ref()
            .and_then(|v| v.pointer("/return/status"))
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok());
        let status = returned.unwrap_or(http_status);
        if status == 200 && (200..300).contains(&http_status) {
            let id = json
                .as_ref()
                .and_then(|v| v.pointer("/entries/0/messageid"))
                .and_then(|id| match id {
                    Value::Number(n) => Some(n.to_string()),
                    Value::String(s) => Some(s.clone()),
                    _ => None,
                });
            return Ok(id);
        }
        let status = if status == 200 { http_status } else { status };
        let text = json
            .as_ref()
            .and_then(|v| v.pointer("/return/message"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| body.chars().take(300).collect());
        let message = format!("kavenegar: status {status}: {text}");
        if is_transient_status(status) {
            Err(SendError::transient(message))
        } else {
            Err(SendError::permanent(message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_receptors() {
        assert!(is_transient_status(409));
        assert!(is_transient_status(418));
        assert!(is_transient_status(502));
        assert!(!is_transient_status(501));
        assert!(!is_transient_status(403));
        assert!(!is_transient_status(411));
        assert_eq!(receptor("+989121234567"), "09121234567");
        assert_eq!(receptor("+447700900123"), "00447700900123");
    }
}
