//! The inbound SMS webhooks through the running app: authentication (generic HMAC, Twilio's
//! signature, Kavenegar's token), the sender's number in every Iranian form, threading by a
//! leading ticket number, repeats, group commit under concurrency, limits and bad input.

use std::sync::Arc;

use chrono::Duration;
use peyk::app::{App, AppError};
use peyk::clock::SharedClock;
use peyk::config::{GenericSmsSettings, KavenegarSettings, Settings, TwilioSettings};
use peyk::domain::digits::{to_arabic_indic_digits, to_persian_digits};
use peyk::domain::ticket::TicketStatus;
use peyk::inbound::sms::{generic, twilio};
use peyk::store::entities::{customer, inbound_receipt, message};
use peyk::store::{self, Store};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::harness::{TestDb, backends, settable_clock, system_clock};

const GENERIC_SECRET: &str = "generic-inbound-secret";
const TWILIO_TOKEN: &str = "twilio-auth-token";
const KAVENEGAR_TOKEN: &str = "kavenegar-inbound-token";
/// Where the provider believes Peyk is (behind a proxy): Twilio signs this URL.
const PUBLIC_URL: &str = "https://support.example.com";

/// Settings with all three inbound endpoints enabled.
fn sms_settings(db: &TestDb) -> Settings {
    let mut settings = db.settings();
    settings.http.public_url = PUBLIC_URL.into();
    settings.sms.generic = Some(GenericSmsSettings {
        inbound_secret: Some(GENERIC_SECRET.into()),
        ..GenericSmsSettings::default()
    });
    settings.sms.twilio = Some(TwilioSettings {
        auth_token: Some(TWILIO_TOKEN.into()),
        ..TwilioSettings::default()
    });
    settings.sms.kavenegar = Some(KavenegarSettings {
        inbound_token: Some(KAVENEGAR_TOKEN.into()),
        ..KavenegarSettings::default()
    });
    settings
}

/// The app, running on a free port.
struct Server {
    base: String,
    client: reqwest::Client,
    store: Store,
    stop: oneshot::Sender<()>,
    running: JoinHandle<Result<(), AppError>>,
}

impl Server {
    async fn start(settings: Settings, clock: SharedClock) -> Server {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let app = App::build(settings, clock).await.expect("app builds");
        let base = format!("http://{}", app.local_addr().expect("bound"));
        let store = app.store().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let running = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder().build().expect("client");
        Server {
            base,
            client,
            store,
            stop,
            running,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.running
            .await
            .expect("server task")
            .expect("server stops cleanly");
    }

    async fn generic_signed_by(&self, body: Vec<u8>, signature: Option<String>) -> Reply {
        let mut request = self
            .client
            .post(format!("{}/webhooks/sms/generic", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("X-Peyk-Signature", signature);
        }
        Reply::of(request.send().await.expect("request")).await
    }

    async fn generic_raw(&self, body: Vec<u8>) -> Reply {
        let signature = generic::signature(GENERIC_SECRET, &body);
        self.generic_signed_by(body, Some(signature)).await
    }

    async fn generic(&self, id: &str, from: &str, text: &str) -> Reply {
        let body = json!({"id": id, "from": from, "to": "30001234", "text": text});
        self.generic_raw(body.to_string().into_bytes()).await
    }

    async fn twilio_signed_by(
        &self,
        fields: &[(&str, &str)],
        signature: Option<String>,
        query: &str,
    ) -> Reply {
        let mut request = self
            .client
            .post(format!("{}/webhooks/sms/twilio{query}", self.base))
            .form(fields);
        if let Some(signature) = signature {
            request = request.header("X-Twilio-Signature", signature);
        }
        Reply::of(request.send().await.expect("request")).await
    }

    async fn twilio(&self, fields: &[(&str, &str)]) -> Reply {
        let signature = twilio_signature(TWILIO_TOKEN, "", fields);
        self.twilio_signed_by(fields, Some(signature), "").await
    }

    async fn kavenegar_get(&self, query: &[(&str, &str)]) -> Reply {
        let request = self.client.get(format!(
            "{}/webhooks/sms/kavenegar?{}",
            self.base,
            url_encoded(query)
        ));
        Reply::of(request.send().await.expect("request")).await
    }

    async fn receipts(&self) -> u64 {
        inbound_receipt::Entity::find()
            .count(self.store.db())
            .await
            .expect("count")
    }

    async fn messages(&self) -> u64 {
        message::Entity::find()
            .count(self.store.db())
            .await
            .expect("count")
    }

    async fn tickets(&self) -> u64 {
        store::tickets::count_tickets(self.store.db())
            .await
            .expect("count")
    }
}

/// `a=1&b=%D8%B3`: every byte but the unreserved ones percent-encoded.
fn url_encoded(pairs: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn twilio_signature(token: &str, query: &str, fields: &[(&str, &str)]) -> String {
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    twilio::signature(
        token,
        &format!("{PUBLIC_URL}/webhooks/sms/twilio{query}"),
        &fields,
    )
}

/// An answer, read whole.
struct Reply {
    status: StatusCode,
    content_type: String,
    retry_after: Option<String>,
    body: String,
}

impl Reply {
    async fn of(response: reqwest::Response) -> Reply {
        let status = response.status();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header("content-type").unwrap_or_default();
        let retry_after = header("retry-after");
        let body = response.text().await.expect("body");
        Reply {
            status,
            content_type,
            retry_after,
            body,
        }
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("JSON answer ({e}): {}", self.body))
    }

    fn ticket_number(&self) -> String {
        self.json()["ticket_number"]
            .as_str()
            .unwrap_or_else(|| panic!("a ticket number in {}", self.body))
            .to_string()
    }

    #[track_caller]
    fn assert_status(&self, expected: StatusCode) -> &Self {
        assert_eq!(self.status, expected, "{}", self.body);
        self
    }

    #[track_caller]
    fn assert_error_names(&self, field: &str) {
        let answer = self.json();
        assert_eq!(answer["field"], json!(field), "{}", self.body);
        assert!(
            answer["error"].as_str().unwrap_or("").contains(field),
            "{}",
            self.body
        );
    }
}

#[test]
fn twilio_signature_matches_twilios_published_example() {
    // The worked example of Twilio's "Webhooks security" page,
    // https://www.twilio.com/docs/usage/security#validating-requests : auth token 12345, a POST
    // to https://mycompany.com/myapp.php?foo=1&bar=2 with these fields, and the signature the
    // page says Twilio sends for them.
    let fields: Vec<(String, String)> = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]
    .iter()
    .rev()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        twilio::signature(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            &fields
        ),
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    );
}

#[tokio::test]
async fn forged_missing_and_altered_credentials_are_refused_with_401_and_nothing_is_stored() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = Server::start(sms_settings(&db), system_clock()).await;

        // Generic: the HMAC of the raw body with the inbound secret.
        let body = json!({"id": "g-1", "from": "09121234567", "to": "3000", "text": "سلام"})
            .to_string()
            .into_bytes();
        let good = generic::signature(GENERIC_SECRET, &body);
        let mut altered = body.clone();
        altered.extend_from_slice(b" ");
        for (case, body, signature) in [
            ("missing", body.clone(), None),
            (
                "forged",
                body.clone(),
                Some(generic::signature("guess", &body)),
            ),
            ("body changed", altered, Some(good.clone())),
            (
                "no sha256= prefix",
                body.clone(),
                Some(good.trim_start_matches("sha256=").to_string()),
            ),
            ("not hex", body.clone(), Some("sha256=zz".into())),
        ] {
            let reply = server.generic_signed_by(body, signature).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "generic {case}");
            assert!(reply.json()["error"].is_string(), "generic {case}");
        }

        // Twilio: every field received is signed, with the URL Twilio was given.
        let fields = [
            ("MessageSid", "SM-1"),
            ("AccountSid", "AC-1"),
            ("From", "+989121234567"),
            ("To", "+15005550006"),
            ("Body", "hello"),
        ];
        let signed = twilio_signature(TWILIO_TOKEN, "", &fields);
        let changed_body = [
            ("MessageSid", "SM-1"),
            ("AccountSid", "AC-1"),
            ("From", "+989121234567"),
            ("To", "+15005550006"),
            ("Body", "hello!"),
        ];
        let extra_field = [
            ("MessageSid", "SM-1"),
            ("AccountSid", "AC-1"),
            ("From", "+989121234567"),
            ("To", "+15005550006"),
            ("Body", "hello"),
            ("NumMedia", "0"),
        ];
        for (case, fields, signature, query) in [
            ("missing", &fields[..], None, ""),
            (
                "forged",
                &fields[..],
                Some(twilio_signature("guess", "", &fields)),
                "",
            ),
            ("body changed", &changed_body[..], Some(signed.clone()), ""),
            ("unsigned field", &extra_field[..], Some(signed.clone()), ""),
            ("other URL", &fields[..], Some(signed.clone()), "?x=1"),
        ] {
            let reply = server.twilio_signed_by(fields, signature, query).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "twilio {case}");
        }

        // Kavenegar: the token query parameter.
        let params = [
            ("messageid", "k-1"),
            ("from", "09121234567"),
            ("to", "10004346"),
            ("message", "سلام"),
        ];
        server
            .kavenegar_get(&params)
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
        let mut wrong = params.to_vec();
        wrong.push(("token", "kavenegar-inbound-tokeN"));
        server
            .kavenegar_get(&wrong)
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
        assert_eq!(server.receipts().await, 0, "nothing stored");

        // The genuine ones pass.
        server
            .generic_signed_by(body.clone(), Some(good))
            .await
            .assert_status(StatusCode::OK);
        let twiml = server.twilio(&fields).await;
        twiml.assert_status(StatusCode::OK);
        assert!(
            twiml.content_type.starts_with("text/xml"),
            "{}",
            twiml.content_type
        );
        assert_eq!(twiml.body, twilio::EMPTY_TWIML);
        // A query string is part of the signed URL.
        let with_query = [
            ("MessageSid", "SM-2"),
            ("AccountSid", "AC-1"),
            ("From", "+989121234567"),
            ("To", "+15005550006"),
            ("Body", "hello"),
            ("NumMedia", "0"),
        ];
        let signed_query = twilio_signature(TWILIO_TOKEN, "?x=1", &with_query);
        server
            .twilio_signed_by(&with_query, Some(signed_query), "?x=1")
            .await
            .assert_status(StatusCode::OK);
        let mut right = params.to_vec();
        right.push(("token", KAVENEGAR_TOKEN));
        server
            .kavenegar_get(&right)
            .await
            .assert_status(StatusCode::OK);
        assert_eq!(server.receipts().await, 4);
        server.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn the_four_iranian_formats_are_one_customer_and_the_text_is_kept_exactly() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = Server::start(sms_settings(&db), system_clock()).await;
        let texts = [
            "سلام، اینترنت\u{200c}ام قطع است 😞",
            "هنوز وصل نشده",
            "لطفاً پیگیری کنید",
            "ممنون 🙏",
        ];
        let mut tickets = Vec::new();
        for (i, (from, text)) in [
            "09121234567",
            "+989121234567",
            "989121234567",
            "00989121234567",
        ]
        .iter()
        .zip(texts)
        .enumerate()
        {
            let reply = server.generic(&format!("fmt-{i}"), from, text).await;
            reply.assert_status(StatusCode::OK);
            tickets.push(reply.ticket_number());
        }
        // Persian digits through another provider: still the same customer.
        let reply = server
            .kavenegar_get(&[
                ("token", KAVENEGAR_TOKEN),
                ("messageid", "kv-1"),
                ("from", "۰۹۱۲۱۲۳۴۵۶۷"),
                ("to", "10004346"),
                ("message", "یک پیام دیگر"),
            ])
            .await;
        reply.assert_status(StatusCode::OK);
        tickets.push(reply.ticket_number());

        let customers = customer::Entity::find()
            .all(server.store.db())
            .await
            .expect("customers");
        assert_eq!(customers.len(), 1, "one customer for every form");
        assert_eq!(customers[0].phone.as_deref(), Some("+989121234567"));
        assert!(
            tickets.iter().all(|t| t == &tickets[0]),
            "one ticket: {tickets:?}"
        );
        let stored: Vec<String> = message::Entity::find()
            .filter(message::Column::Direction.eq("inbound"))
            .order_by_asc(message::Column::Id)
            .all(server.store.db())
            .await
            .expect("messages")
            .into_iter()
            .map(|m| m.body_text)
            .collect();
        assert_eq!(stored[..4], texts, "texts stored exactly as sent");
        let receipt = store::inbound::find_receipt(server.store.db(), "sms:generic", "fmt-0")
            .await
            .expect("db")
            .expect("receipt under the provider's id");
        assert_eq!(receipt.channel, "sms");
        server.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn leading_ticket_numbers_in_any_digits_thread_and_a_wrong_check_digit_does_not() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let (clock, shared) = settable_clock("2026-11-30T08:00:00Z");
        let server = Server::start(sms_settings(&db), shared).await;
        let phone = "09121234567";

        let first = server.generic("t-1", phone, "مودم چراغ قرمز دارد").await;
        first.assert_status(StatusCode::OK);
        assert_eq!(first.json()["outcome"], "new_ticket");
        let a = first.ticket_number();
        let ticket_a = store::tickets::find_by_number(server.store.db(), &a)
            .await
            .expect("db")
            .expect("ticket");
        clock.advance(Duration::minutes(1));
        store::tickets::set_status(
            server.store.db(),
            ticket_a.id,
            TicketStatus::Closed,
            None,
            "test",
            clock.now_utc(),
        )
        .await
        .expect("close");

        // A is closed, so a plain SMS opens B.
        clock.advance(Duration::minutes(1));
        let second = server.generic("t-2", phone, "یک مشکل دیگر").await;
        let b = second.ticket_number();
        assert_ne!(a, b);

        // Each message names the ticket that is NOT the newest, so only the number can thread it.
        let cases = [
            ("t-3", format!("{} هنوز قطع است", to_persian_digits(&a)), &a),
            (
                "t-4",
                format!("{} درباره آن یکی", to_arabic_indic_digits(&b)),
                &b,
            ),
            ("t-5", format!("#{a} any news?"), &a),
        ];
        for (id, text, expected) in &cases {
            clock.advance(Duration::minutes(1));
            let reply = server.generic(id, phone, text).await;
            reply.assert_status(StatusCode::OK);
            assert_eq!(
                (
                    reply.json()["outcome"].as_str(),
                    reply.ticket_number().as_str()
                ),
                (Some("reply"), expected.as_str()),
                "{text}"
            );
        }

        // One digit off: the Damm check digit fails, so a new ticket (not A, not B).
        let last = a
            .chars()
            .last()
            .and_then(|c| c.to_digit(10))
            .expect("digit");
        let mistyped = format!("{}{}", &a[..a.len() - 1], (last + 1) % 10);
        clock.advance(Duration::minutes(1));
        let reply = server
            .generic("t-6", phone, &format!("{mistyped} کسی جواب نمی‌دهد"))
            .await;
        reply.assert_status(StatusCode::OK);
        assert_eq!(reply.json()["outcome"], "new_ticket");
        let c = reply.ticket_number();
        assert!(c != a && c != b, "{c}");
        assert_eq!(server.tickets().await, 3);
        server.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_repeated_provider_id_answers_200_and_stores_once() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = Server::start(sms_settings(&db), system_clock()).await;
        let body = json!({
            "id": "dup-1", "from": "09121234567", "to": "3000", "text": "سلام",
            "received_at": "2026-11-30T10:00:00+03:30",
        })
        .to_string()
        .into_bytes();
        let first = server.generic_raw(body.clone()).await;
        first.assert_status(StatusCode::OK);
        assert_eq!(first.json()["duplicate"], false);
        let again = server.generic_raw(body).await;
        again.assert_status(StatusCode::OK);
        assert_eq!(again.json()["duplicate"], true);
        assert_eq!(again.ticket_number(), first.ticket_number());
        let receipt = store::inbound::find_receipt(server.store.db(), "sms:generic", "dup-1")
            .await
            .expect("db")
            .expect("receipt");
        assert_eq!(
            receipt.received_at.to_rfc3339(),
            "2026-11-30T06:30:00+00:00"
        );

        let fields = [
            ("MessageSid", "SM-dup"),
            ("From", "+989351112233"),
            ("To", "+15005550006"),
            ("Body", "hi"),
        ];
        server.twilio(&fields).await.assert_status(StatusCode::OK);
        server.twilio(&fields).await.assert_status(StatusCode::OK);
        let kavenegar = [
            ("token", KAVENEGAR_TOKEN),
            ("messageid", "kv-dup"),
            ("from", "09131112233"),
            ("to", "10004346"),
            ("message", "درود"),
        ];
        for _ in 0..2 {
            server
                .kavenegar_get(&kavenegar)
                .await
                .assert_status(StatusCode::OK);
        }
        assert_eq!(server.receipts().await, 3);
        assert_eq!(server.messages().await, 3);
        assert_eq!(server.tickets().await, 3);
        server.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_hundred_concurrent_webhooks_from_one_phone_are_all_stored() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let mut settings = sms_settings(&db);
        settings.sms.inbound_per_number_per_minute = 1_000;
        let server = Arc::new(Server::start(settings, system_clock()).await);
        let requests = (0..100).map(|i| {
            let server = server.clone();
            tokio::spawn(async move {
                server
                    .generic(&format!("burst-{i}"), "09121234567", &format!("پیام {i}"))
                    .await
            })
        });
        let replies = futures::future::join_all(requests).await;
        let mut tickets = std::collections::BTreeSet::new();
        for reply in replies {
            let reply = reply.expect("task");
            reply.assert_status(StatusCode::OK);
            tickets.insert(reply.ticket_number());
        }
        assert_eq!(server.receipts().await, 100);
        assert_eq!(server.messages().await, 100, "none lost");
        assert_eq!(tickets.len(), 1, "one conversation: {tickets:?}");
        let server = Arc::into_inner(server).expect("sole owner");
        server.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn missing_fields_bad_senders_and_big_bodies_are_refused_and_long_texts_kept() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = Server::start(sms_settings(&db), system_clock()).await;

        for field in ["id", "from", "to", "text"] {
            let mut body = json!({"id": "m-1", "from": "09121234567", "to": "3000", "text": "x"});
            body.as_object_mut().expect("object").remove(field);
            let reply = server.generic_raw(body.to_string().into_bytes()).await;
            reply.assert_status(StatusCode::BAD_REQUEST);
            reply.assert_error_names(field);
        }
        let reply = server.generic_raw(b"{\"id\": \"m-1\", ".to_vec()).await;
        reply.assert_status(StatusCode::BAD_REQUEST);
        assert!(reply.json()["error"].is_string());
        let reply = server.generic("m-2", "hello", "x").await;
        reply.assert_status(StatusCode::BAD_REQUEST);
        reply.assert_error_names("from");
        let reply = server
            .generic_raw(
                json!({"id": "m-3", "from": "09121234567", "to": "3000", "text": "x", "received_at": "yesterday"})
                    .to_string()
                    .into_bytes(),
            )
            .await;
        reply.assert_status(StatusCode::BAD_REQUEST);
        reply.assert_error_names("received_at");

        let reply = server
            .twilio(&[
                ("MessageSid", "SM-9"),
                ("From", "+989121234567"),
                ("To", "+1500"),
            ])
            .await;
        reply.assert_status(StatusCode::BAD_REQUEST);
        reply.assert_error_names("Body");
        let reply = server
            .kavenegar_get(&[
                ("token", KAVENEGAR_TOKEN),
                ("messageid", "kv-9"),
                ("from", "09121234567"),
                ("to", "10004346"),
            ])
            .await;
        reply.assert_status(StatusCode::BAD_REQUEST);
        reply.assert_error_names("message");

        // Over 64 KB: 413, even when signed.
        let huge = "ب".repeat(40 * 1024);
        let reply = server.generic("big-1", "09121234567", &huge).await;
        reply.assert_status(StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(server.receipts().await, 0, "nothing stored");

        // A long text under the limit is stored whole.
        let long = format!("{}پایان", "الف ب پ ت ث ج چ ح خ د ".repeat(1_400));
        assert!(long.len() > 30_000 && long.len() < 64 * 1024 - 200);
        server
            .generic("long-1", "09121234567", &long)
            .await
            .assert_status(StatusCode::OK);
        let stored = message::Entity::find()
            .filter(message::Column::Direction.eq("inbound"))
            .one(server.store.db())
            .await
            .expect("db")
            .expect("message");
        assert_eq!(stored.body_text, long);
        server.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn endpoints_without_their_secret_answer_404() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let mut settings = db.settings();
        settings.sms.generic = Some(GenericSmsSettings {
            api_url: Some("https://sms.example.com/send".into()),
            api_key: Some("k".into()),
            inbound_secret: Some("  ".into()),
        });
        let server = Server::start(settings, system_clock()).await;
        server
            .generic("n-1", "09121234567", "x")
            .await
            .assert_status(StatusCode::NOT_FOUND);
        server
            .twilio(&[
                ("MessageSid", "SM-1"),
                ("From", "+98912"),
                ("To", "+1"),
                ("Body", "x"),
            ])
            .await
            .assert_status(StatusCode::NOT_FOUND);
        server
            .kavenegar_get(&[("token", KAVENEGAR_TOKEN)])
            .await
            .assert_status(StatusCode::NOT_FOUND);
        server.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn over_a_limit_is_429_and_nothing_is_stored() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let mut settings = sms_settings(&db);
        settings.sms.inbound_per_number_per_minute = 3;
        settings.sms.unauthenticated_per_address_per_minute = 2;
        let server = Server::start(settings, system_clock()).await;

        for i in 0..3 {
            server
                .generic(&format!("r-{i}"), "09121234567", "x")
                .await
                .assert_status(StatusCode::OK);
        }
        // The same number in another form and through another provider: the same budget.
        let over = server.generic("r-3", "+989121234567", "x").await;
        over.assert_status(StatusCode::TOO_MANY_REQUESTS);
        assert!(over.retry_after.is_some());
        server
            .kavenegar_get(&[
                ("token", KAVENEGAR_TOKEN),
                ("messageid", "kv-r"),
                ("from", "00989121234567"),
                ("to", "10004346"),
                ("message", "x"),
            ])
            .await
            .assert_status(StatusCode::TOO_MANY_REQUESTS);
        // Another number is not affected.
        server
            .generic("r-4", "09351112233", "x")
            .await
            .assert_status(StatusCode::OK);
        assert_eq!(server.receipts().await, 4);
        assert!(
            store::inbound::find_receipt(server.store.db(), "sms:generic", "r-3")
                .await
                .expect("db")
                .is_none()
        );

        // Failed authentications from one address: 401 twice, then 429.
        let body = b"{}".to_vec();
        for _ in 0..2 {
            server
                .generic_signed_by(body.clone(), Some("sha256=00".into()))
                .await
                .assert_status(StatusCode::UNAUTHORIZED);
        }
        server
            .generic_signed_by(body.clone(), None)
            .await
            .assert_status(StatusCode::TOO_MANY_REQUESTS);
        // Authenticated requests from that address still pass.
        server
            .generic("r-5", "09131112233", "x")
            .await
            .assert_status(StatusCode::OK);
        assert_eq!(server.receipts().await, 5);
        server.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_failed_commit_answers_503_and_stores_nothing() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = Server::start(sms_settings(&db), system_clock()).await;
        server
            .generic("f-1", "09121234567", "before")
            .await
            .assert_status(StatusCode::OK);
        // The app's connection pool goes away under it.
        server.store.db().clone().close().await.expect("close pool");
        let ids = ["f-2", "f-3", "f-4"];
        let replies =
            futures::future::join_all(ids.map(|id| server.generic(id, "09121234567", "after")))
                .await;
        for reply in &replies {
            reply.assert_status(StatusCode::SERVICE_UNAVAILABLE);
            assert!(reply.retry_after.is_some());
            assert!(reply.json()["error"].is_string());
        }
        let fresh = db.store().await;
        let receipts = inbound_receipt::Entity::find()
            .count(fresh.db())
            .await
            .expect("count");
        assert_eq!(receipts, 1);
        server.stop().await;
        db.cleanup().await;
    }
}
