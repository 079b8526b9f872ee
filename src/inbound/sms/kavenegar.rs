//! Kavenegar: a GET (parameters in the query) or POST (form-encoded body) with `messageid`,
//! `from`, `to` and `message`, authenticated by a `token` query parameter equal to
//! `sms.kavenegar.inbound_token`.

use axum::http::Method;
use axum::routing::MethodFilter;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::form::{decode_pairs, required};
use super::{
    AuthFailure, InboundSmsProvider, ReceivedSms, SmsFieldError, WebhookRequest, checked_id,
    configured_secret,
};
use crate::config::Settings;

const TOKEN_PARAMETER: &str = "token";

pub struct Kavenegar {
    /// SHA-256 of the token: comparing digests takes the same time whatever the length given.
    token_digest: [u8; 32],
}

impl Kavenegar {
    pub fn new(inbound_token: &str) -> Self {
        Self {
            token_digest: Sha256::digest(inbound_token.as_bytes()).into(),
        }
    }

    /// The provider, when `sms.kavenegar.inbound_token` is set.
    pub fn from_settings(settings: &Settings) -> Option<Self> {
        let kavenegar = settings.sms.kavenegar.as_ref()?;
        configured_secret(kavenegar.inbound_token.as_ref()).map(|token| Self::new(&token))
    }
}

impl InboundSmsProvider for Kavenegar {
    fn name(&self) -> &'static str {
        "kavenegar"
    }

    fn methods(&self) -> MethodFilter {
        MethodFilter::GET.or(MethodFilter::POST)
    }

    fn authenticate(&self, request: &WebhookRequest<'_>) -> Result<(), AuthFailure> {
        const WHAT: &str = "token parameter";
        let query =
            decode_pairs(request.query().as_bytes()).map_err(|_| AuthFailure::Mismatch(WHAT))?;
        let mut tokens = query.iter().filter(|(name, _)| name == TOKEN_PARAMETER);
        let given = match (tokens.next(), tokens.next()) {
            (Some((_, token)), None) => token,
            (None, _) => return Err(AuthFailure::Missing(WHAT)),
            (Some(_), Some(_)) => return Err(AuthFailure::Mismatch(WHAT)),
        };
        let given_digest: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        if !bool::from(given_digest.ct_eq(&self.token_digest)) {
            return Err(AuthFailure::Mismatch(WHAT));
        }
        Ok(())
    }

    fn parse(&self, request: &WebhookRequest<'_>) -> Result<ReceivedSms, SmsFieldError> {
        let mut fields =
            decode_pairs(request.query().as_bytes()).map_err(|e| SmsFieldError::MalformedBody {
                expected: "a URL-encoded query",
                detail: e.to_string(),
            })?;
        if request.method == Method::POST {
            fields.extend(decode_pairs(request.body).map_err(|e| {
                SmsFieldError::MalformedBody {
                    expected: "form-encoded",
                    detail: e.to_string(),
                }
            })?);
        }
        fields.retain(|(name, _)| name != TOKEN_PARAMETER);
        Ok(ReceivedSms {
            id: checked_id("messageid", required(&fields, "messageid")?)?,
            from: required(&fields, "from")?.to_string(),
            from_field: "from",
            to: required(&fields, "to")?.to_string(),
            text: required(&fields, "message")?.to_string(),
            received_at: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, Uri};

    use super::*;

    #[test]
    fn the_token_must_match_exactly_and_fields_come_from_query_and_body() {
        let kavenegar = Kavenegar::new("tok-123");
        let headers = HeaderMap::new();
        let check = |uri: &'static str| {
            kavenegar.authenticate(&WebhookRequest {
                method: &Method::GET,
                uri: &Uri::from_static(uri),
                headers: &headers,
                body: b"",
            })
        };
        assert_eq!(check("/webhooks/sms/kavenegar?token=tok-123"), Ok(()));
        assert!(check("/webhooks/sms/kavenegar?token=tok-12").is_err());
        assert!(check("/webhooks/sms/kavenegar?token=tok-123&token=x").is_err());
        assert_eq!(
            check("/webhooks/sms/kavenegar?messageid=1"),
            Err(AuthFailure::Missing("token parameter"))
        );

        let uri = Uri::from_static("/webhooks/sms/kavenegar?token=tok-123&messageid=77");
        let sms = kavenegar
            .parse(&WebhookRequest {
                method: &Method::POST,
                uri: &uri,
                headers: &headers,
                body: "from=09121234567&to=10004346&message=%D8%B3%D9%84%D8%A7%D9%85".as_bytes(),
            })
            .expect("parses");
        assert_eq!(
            (sms.id.as_str(), sms.from.as_str(), sms.text.as_str()),
            ("77", "09121234567", "سلام")
        );
    }
}
