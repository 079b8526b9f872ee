//! The generic provider: JSON `{"id","from","to","text"}` (+ optional `"received_at"`, RFC 3339),
//! signed by `X-Peyk-Signature: sha256=<hex HMAC-SHA256 of the raw body>` with
//! `sms.generic.inbound_secret`.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{
    AuthFailure, InboundSmsProvider, ReceivedSms, SmsFieldError, WebhookRequest, checked_id,
    configured_secret,
};
use crate::config::Settings;

pub const SIGNATURE_HEADER: &str = "x-peyk-signature";
const SIGNATURE_PREFIX: &str = "sha256=";

pub struct Generic {
    secret: String,
}

impl Generic {
    pub fn new(secret: String) -> Self {
        Self { secret }
    }

    /// The provider, when `sms.generic.inbound_secret` is set.
    pub fn from_settings(settings: &Settings) -> Option<Self> {
        let generic = settings.sms.generic.as_ref()?;
        configured_secret(generic.inbound_secret.as_ref()).map(Self::new)
    }
}

/// The `X-Peyk-Signature` value of `body`: `sha256=<hex>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    format!(
        "{SIGNATURE_PREFIX}{}",
        hex::encode(hmac_sha256(secret, body))
    )
}

fn hmac_sha256(secret: &str, body: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length; the error case cannot happen.
    match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(body);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

impl InboundSmsProvider for Generic {
    fn name(&self) -> &'static str {
        "generic"
    }

    fn authenticate(&self, request: &WebhookRequest<'_>) -> Result<(), AuthFailure> {
        const WHAT: &str = "X-Peyk-Signature";
        let given = request
            .header(SIGNATURE_HEADER)
            .ok_or(AuthFailure::Missing(WHAT))?;
        let given_hex = given
            .trim()
            .strip_prefix(SIGNATURE_PREFIX)
            .ok_or(AuthFailure::Mismatch(WHAT))?;
        let given = hex::decode(given_hex).map_err(|_| AuthFailure::Mismatch(WHAT))?;
        let expected = hmac_sha256(&self.secret, request.body);
        if expected.is_empty() || !bool::from(expected.ct_eq(&given)) {
            return Err(AuthFailure::Mismatch(WHAT));
        }
        Ok(())
    }

    fn parse(&self, request: &WebhookRequest<'_>) -> Result<ReceivedSms, SmsFieldError> {
        let body: Value =
            serde_json::from_slice(request.body).map_err(|e| SmsFieldError::MalformedBody {
                expected: "JSON",
                detail: e.to_string(),
            })?;
        let Value::Object(fields) = body else {
            return Err(SmsFieldError::MalformedBody {
                expected: "a JSON object",
                detail: "another JSON value".into(),
            });
        };
        let id = match fields.get("id") {
            None | Some(Value::Null) => return Err(SmsFieldError::Missing("id")),
            Some(Value::String(id)) => checked_id("id", id)?,
            Some(Value::Number(id)) if id.is_u64() || id.is_i64() => id.to_string(),
            Some(_) => {
                return Err(SmsFieldError::Invalid {
                    field: "id",
                    problem: "is neither a string nor an integer".into(),
                });
            }
        };
        let text_field = |name: &'static str| match fields.get(name) {
            None | Some(Value::Null) => Err(SmsFieldError::Missing(name)),
            Some(Value::String(value)) => Ok(value.clone()),
            Some(_) => Err(SmsFieldError::Invalid {
                field: name,
                problem: "is not a string".into(),
            }),
        };
        let from = text_field("from")?;
        let to = text_field("to")?;
        let text = text_field("text")?;
        let received_at = match fields.get("received_at") {
            None | Some(Value::Null) => None,
            Some(Value::String(at)) => Some(
                DateTime::parse_from_rfc3339(at.trim())
                    .map_err(|e| SmsFieldError::Invalid {
                        field: "received_at",
                        problem: format!("is not an RFC 3339 time: {e}"),
                    })?
                    .with_timezone(&Utc),
            ),
            Some(_) => {
                return Err(SmsFieldError::Invalid {
                    field: "received_at",
                    problem: "is not a string".into(),
                });
            }
        };
        Ok(ReceivedSms {
            id,
            from,
            from_field: "from",
            to,
            text,
            received_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue, Method, Uri};

    use super::*;

    fn request<'a>(headers: &'a HeaderMap, body: &'a [u8], uri: &'a Uri) -> WebhookRequest<'a> {
        WebhookRequest {
            method: &Method::POST,
            uri,
            headers,
            body,
        }
    }

    #[test]
    fn only_the_signature_of_this_body_with_this_secret_passes() {
        let generic = Generic::new("s3cret".into());
        let uri = Uri::from_static("/webhooks/sms/generic");
        let body = br#"{"id":"1","from":"09121234567","to":"3000","text":"hi"}"#;
        let mut headers = HeaderMap::new();
        assert_eq!(
            generic.authenticate(&request(&headers, body, &uri)),
            Err(AuthFailure::Missing("X-Peyk-Signature"))
        );
        let good = signature("s3cret", body);
        headers.insert(
            SIGNATURE_HEADER,
            HeaderValue::from_str(&good).expect("header"),
        );
        assert_eq!(generic.authenticate(&request(&headers, body, &uri)), Ok(()));
        let changed = br#"{"id":"1","from":"09121234567","to":"3000","text":"hi!"}"#;
        assert!(
            generic
                .authenticate(&request(&headers, changed, &uri))
                .is_err()
        );
        headers.insert(
            SIGNATURE_HEADER,
            HeaderValue::from_str(&signature("other", body)).expect("header"),
        );
        assert!(
            generic
                .authenticate(&request(&headers, body, &uri))
                .is_err()
        );
        headers.insert(
            SIGNATURE_HEADER,
            HeaderValue::from_str(good.trim_start_matches("sha256=")).expect("header"),
        );
        assert!(
            generic
                .authenticate(&request(&headers, body, &uri))
                .is_err()
        );
    }

    #[test]
    fn fields_are_read_and_missing_ones_named() {
        let generic = Generic::new("k".into());
        let uri = Uri::from_static("/webhooks/sms/generic");
        let headers = HeaderMap::new();
        let body = r#"{"id":42,"from":"+989121234567","to":"3000","text":"سلام\u200cخوبی 🙂","received_at":"2026-11-30T10:00:00+03:30"}"#;
        let sms = generic
            .parse(&request(&headers, body.as_bytes(), &uri))
            .expect("parses");
        assert_eq!(sms.id, "42");
        assert_eq!(sms.text, "سلام\u{200c}خوبی 🙂");
        assert_eq!(
            sms.received_at.map(|t| t.to_rfc3339()),
            Some("2026-11-30T06:30:00+00:00".into())
        );
        let missing = generic.parse(&request(
            &headers,
            br#"{"id":"1","from":"x","to":"y"}"#,
            &uri,
        ));
        assert_eq!(missing, Err(SmsFieldError::Missing("text")));
        let malformed = generic.parse(&request(&headers, b"{not json", &uri));
        assert!(matches!(
            malformed,
            Err(SmsFieldError::MalformedBody { .. })
        ));
    }
}
