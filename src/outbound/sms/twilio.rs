//! Twilio's Messages API: POST `{api_base}/2010-04-01/Accounts/{sid}/Messages.json`, form
//! `To`, `From`, `Body`, HTTP Basic `sid:token`; the answer's `sid` is the provider's id.
//! 429 and 5xx are retried, any other 4xx (bad number, bad credentials) fails.

use serde_json::Value;

use super::{SendError, SmsMessage, SmsSender, request_error, status_error};

pub const DEFAULT_API_BASE: &str = "https://api.twilio.com";

pub struct TwilioSender {
    client: reqwest::Client,
    api_base: String,
    account_sid: String,
    auth_token: String,
    from: String,
}

impl TwilioSender {
    pub fn new(
        client: reqwest::Client,
        api_base: String,
        account_sid: String,
        auth_token: String,
        from: String,
    ) -> Self {
        Self {
            client,
            api_base: api_base.trim_end_matches('/').to_string(),
            account_sid,
            auth_token,
            from,
        }
    }
}

impl SmsSender for TwilioSender {
    async fn send(&self, message: &SmsMessage<'_>) -> Result<Option<String>, SendError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.api_base, self.account_sid
        );
        let response = self
            .client
            .post(url)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&[
                ("To", message.to),
                ("From", self.from.as_str()),
                ("Body", message.text),
            ])
            .send()
            .await
            .map_err(|e| request_error("twilio", &e))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(status_error("twilio", status, &body));
        }
        Ok(serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v.get("sid").and_then(Value::as_str).map(str::to_string)))
    }
}
