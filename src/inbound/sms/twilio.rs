//! Twilio: a form-encoded POST (`MessageSid`, `From`, `To`, `Body`, and many more fields),
//! signed by `X-Twilio-Signature` = base64(HMAC-SHA1(auth token, the full public URL followed by
//! every POST field's name and value, sorted by name)). Answered with an empty TwiML response.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::form::{decode_pairs, required, single};
use super::{
    AuthFailure, InboundSmsProvider, ReceivedSms, SmsFieldError, WebhookRequest, checked_id,
    configured_secret,
};
use crate::config::Settings;
use crate::intake::IntakeResult;

pub const SIGNATURE_HEADER: &str = "x-twilio-signature";

/// The answer Twilio expects when nothing is to be sent back.
pub const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#;

pub struct Twilio {
    auth_token: String,
    /// `http.public_url` without a trailing slash: the URL Twilio was given starts with it.
    public_url: String,
}

impl Twilio {
    pub fn new(auth_token: String, public_url: &str) -> Self {
        Self {
            auth_token,
            public_url: public_url.trim_end_matches('/').to_string(),
        }
    }

    /// The provider, when `sms.twilio.auth_token` is set.
    pub fn from_settings(settings: &Settings) -> Option<Self> {
        let twilio = settings.sms.twilio.as_ref()?;
        configured_secret(twilio.auth_token.as_ref())
            .map(|token| Self::new(token, &settings.http.public_url))
    }

    /// The URL Twilio signed: the public URL, then the path and query this request came to.
    fn signed_url(&self, request: &WebhookRequest<'_>) -> String {
        let path_and_query = request
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or_else(|| request.uri.path());
        format!("{}{path_and_query}", self.public_url)
    }
}

/// Twilio's request signature: base64(HMAC-SHA1(auth_token, url + name1 + value1 + ...)), the
/// POST fields sorted by name (byte order; a repeated name by value).
pub fn signature(auth_token: &str, url: &str, fields: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = fields.iter().collect();
    sorted.sort();
    // HMAC takes a key of any length; the error case cannot happen.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) else {
        return String::new();
    };
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    BASE64.encode(mac.finalize().into_bytes())
}

impl InboundSmsProvider for Twilio {
    fn name(&self) -> &'static str {
        "twilio"
    }

    fn authenticate(&self, request: &WebhookRequest<'_>) -> Result<(), AuthFailure> {
        const WHAT: &str = "X-Twilio-Signature";
        let given = request
            .header(SIGNATURE_HEADER)
            .ok_or(AuthFailure::Missing(WHAT))?;
        // The signature covers every field received, so all of them are decoded for it.
        let fields = decode_pairs(request.body).map_err(|_| AuthFailure::Mismatch(WHAT))?;
        let expected = signature(&self.auth_token, &self.signed_url(request), &fields);
        if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(given.trim().as_bytes())) {
            return Err(AuthFailure::Mismatch(WHAT));
        }
        Ok(())
    }

    fn parse(&self, request: &WebhookRequest<'_>) -> Result<ReceivedSms, SmsFieldError> {
        let fields = decode_pairs(request.body).map_err(|e| SmsFieldError::MalformedBody {
            expected: "form-encoded",
            detail: e.to_string(),
        })?;
        // `SmsSid` is the older name of the same id.
        let id = match (single(&fields, "MessageSid")?, single(&fields, "SmsSid")?) {
            (Some(sid), _) => checked_id("MessageSid", sid)?,
            (None, Some(sid)) => checked_id("SmsSid", sid)?,
            (None, None) => return Err(SmsFieldError::Missing("MessageSid")),
        };
        Ok(ReceivedSms {
            id,
            from: required(&fields, "From")?.to_string(),
            from_field: "From",
            to: required(&fields, "To")?.to_string(),
            text: required(&fields, "Body")?.to_string(),
            received_at: None,
        })
    }

    fn accepted(&self, _result: &IntakeResult) -> Response {
        (
            [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
            EMPTY_TWIML,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    /// Twilio's worked example, "Validating Requests are coming from Twilio" in
    /// https://www.twilio.com/docs/usage/security#validating-requests : auth token 12345, URL
    /// https://mycompany.com/myapp.php?foo=1&bar=2, these five fields, and the signature the
    /// page gives for them.
    #[test]
    fn twilios_published_example_verifies() {
        let params = fields(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            signature("12345", url, &params),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
        let mut reversed = params.clone();
        reversed.reverse();
        assert_eq!(
            signature("12345", url, &reversed),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }
}
