//! `sms.provider = "log"`: texts are written to the log (development, and desks without SMS).

use super::{SendError, SmsMessage, SmsSender};

pub struct LogSender;

impl SmsSender for LogSender {
    async fn send(&self, message: &SmsMessage<'_>) -> Result<Option<String>, SendError> {
        tracing::info!(
            to = message.to,
            id = message.id,
            text = message.text,
            "SMS (log provider)"
        );
        Ok(None)
    }
}
