//! The generic HTTP provider: POST JSON `{"to","text","id"}` to `sms.generic.api_url` with
//! `Authorization: Bearer <api_key>`. 2xx is sent (an optional JSON `{"id"}` is kept), 429 and
//! 5xx are retried, any other 4xx fails.

use serde_json::{Value, json};

use super::{SendError, SmsMessage, SmsSender, request_error, status_error};

pub struct GenericSender {
    client: reqwest::Client,
    api_url: String,
    api_key: String,
}

impl GenericSender {
    pub fn new(client: reqwest::Client, api_url: String, api_key: String) -> Self {
        Self {
            client,
            api_url,
            api_key,
        }
    }
}

impl SmsSender for GenericSender {
    async fn send(&self, message: &SmsMessage<'_>) -> Result<Option<String>, SendError> {
        let response = self
            .client
            .post(&self.api_url)
            .bearer_auth(&self.api_key)
            .json(&json!({"to": message.to, "text": message.text, "id": message.id}))
            .send()
            .await
            .map_err(|e| request_error("generic", &e))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(status_error("generic", status, &body));
        }
        let id = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| match v.get("id") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            });
        Ok(id)
    }
}
