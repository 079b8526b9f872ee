//! The outbound side against real servers: a STARTTLS+AUTH SMTP server delivering into Dovecot
//! (read back over IMAP), SMS providers played by a local HTTP server, and the outbox worker's
//! retries, failures, loop guards and multi-worker claiming.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use chrono::Duration;
use mail_parser::MessageParser;
use peyk::clock::{SettableClock, SharedClock};
use peyk::config::{
    GenericSmsSettings, KavenegarSettings, Settings, SmsProviderKind, SmtpSettings, TwilioSettings,
};
use peyk::domain::contact::PhoneNumber;
use peyk::domain::message::{AutomationSignals, InboundMessage, Sender};
use peyk::domain::ticket::Channel;
use peyk::inbound::email::parse_email;
use peyk::intake::{InboundItem, Intake, IntakeOutcome, IntakeRules};
use peyk::outbound::worker::{DeliveryOutcome, OutboxWorker};
use peyk::service::replies::{ReplyRules, close_ticket, reply_to_ticket};
use peyk::store::entities::customer;
use peyk::store::outbox::{self, OutboxItem};
use peyk::store::{self, Store};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tokio_util::sync::CancellationToken;

use crate::dovecot::Dovecot;
use crate::harness::{Backend, TestDb, backends, settable_clock};
use crate::smtp::SmtpServer;

const START: &str = "2026-11-30T08:00:00Z";
const CUSTOMER_PASSWORD: &str = "customer secret";

fn customer_email(n: usize, from: &str, subject: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "From: Customer {n} <{from}>\r\nTo: support@peyk.example\r\nSubject: {subject}\r\nMessage-ID: <c{n}.{}@customer.example>\r\n{extra_headers}Content-Type: text/plain; charset=utf-8\r\n\r\nHello, message {n}.\r\n",
        rand::random::<u64>()
    )
    .into_bytes()
}

fn parsed(raw: &[u8], now: chrono::DateTime<chrono::Utc>) -> InboundItem {
    InboundItem::Parsed(Box::new(
        parse_email(raw, "import", None, 1024 * 1024, now)
            .result
            .expect("parses"),
    ))
}

fn sms_item(id: &str, from: &str, text: &str, now: chrono::DateTime<chrono::Utc>) -> InboundItem {
    use sha2::Digest;
    InboundItem::Parsed(Box::new(InboundMessage {
        channel: Channel::Sms,
        source: "sms:test".into(),
        external_id: id.into(),
        sender: Sender {
            name: None,
            email: None,
            phone: Some(PhoneNumber::parse(from, "IR").expect("phone")),
        },
        subject: None,
        text: text.into(),
        html: None,
        attachments: Vec::new(),
        message_id: None,
        in_reply_to: Vec::new(),
        references: Vec::new(),
        provider_message_id: Some(id.into()),
        signals: AutomationSignals::default(),
        raw: None,
        content_hash: format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(id.as_bytes()))
        ),
        received_at: now,
        department: None,
    }))
}

struct Env {
    db: TestDb,
    settings: Settings,
    clock: SettableClock,
    shared: SharedClock,
    store: Store,
    intake: Intake,
}

impl Env {
    async fn new(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Env {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let db = TestDb::create(backend).await;
        let mut settings = db.settings();
        configure(&mut settings);
        let (clock, shared) = settable_clock(START);
        let store = db.store().await;
        let intake = Intake::new(
            store.clone(),
            IntakeRules::from_settings(&settings),
            shared.clone(),
        );
        Env {
            db,
            settings,
            clock,
            shared,
            store,
            intake,
        }
    }

    fn worker(&self) -> OutboxWorker {
        OutboxWorker::from_settings(
            self.store.clone(),
            self.shared.clone(),
            &self.settings,
            self.intake.outbox_wakeup(),
        )
        .expect("worker")
    }

    async fn ingest(&self, item: InboundItem) -> String {
        let result = self.intake.ingest(item).await.expect("ingest");
        result.ticket_number.expect("ticket")
    }

    async fn outbox(&self) -> Vec<OutboxItem> {
        let (mut items, _) = outbox::list(self.store.db(), None, 1, 10_000)
            .await
            .expect("list");
        items.reverse();
        items
    }

    async fn drain(&self, worker: &OutboxWorker) -> Vec<DeliveryOutcome> {
        let mut outcomes = Vec::new();
        loop {
            match worker.try_deliver_next().await.expect("deliver") {
                DeliveryOutcome::Idle => return outcomes,
                other => outcomes.push(other),
            }
        }
    }

    async fn cleanup(self) {
        self.db.cleanup().await;
    }
}

fn smtp_settings(smtp: &SmtpServer, dovecot: &Dovecot) -> SmtpSettings {
    SmtpSettings {
        url: smtp.url(),
        ca_file: Some(dovecot.ca_file()),
    }
}

fn header(raw: &[u8], name: &str) -> Option<String> {
    let message = MessageParser::default().parse(raw)?;
    message.header_raw(name).map(|v| v.trim().to_string())
}

#[tokio::test]
async fn acknowledgement_reply_and_closing_arrive_and_thread() {
    for backend in backends() {
        let dovecot = Dovecot::start().await;
        let customer = "sara@customer.example";
        dovecot.add_user(customer, CUSTOMER_PASSWORD);
        let (cert, key) = dovecot.server_cert_files();
        let smtp = SmtpServer::start(&cert, &key, Some(dovecot.lmtp_port)).await;
        let env = Env::new(backend, |s| s.smtp = Some(smtp_settings(&smtp, &dovecot))).await;
        let worker = env.worker();

        let first = customer_email(1, customer, "Internet is down", "");
        let number = env.ingest(parsed(&first, env.clock.now_utc())).await;
        assert_eq!(env.drain(&worker).await, vec![DeliveryOutcome::Sent]);
        let ack = env.outbox().await.remove(0);
        assert_eq!(ack.status, "sent", "{ack:?}");
        assert_eq!(ack.attempts, 1);
        assert!(ack.sent_at.is_some());
        assert!(
            ack.provider_message_id
                .as_deref()
                .is_some_and(|p| p.contains("queued as")),
            "{ack:?}"
        );
        let ack_id = ack.message_id.clone().expect("message id");

        let mut imap = dovecot.client_as(customer, CUSTOMER_PASSWORD).await;
        let inbox = imap.messages("INBOX").await;
        assert_eq!(inbox.len(), 1);
        let raw = &inbox[0];
        let subject = header(raw, "Subject").expect("subject");
        let parsed_ack = MessageParser::default()
            .parse(raw.as_slice())
            .expect("parse");
        assert_eq!(
            parsed_ack.subject(),
            Some(format!("[#{number}] Internet is down").as_str()),
            "{subject}"
        );
        assert_eq!(
            parsed_ack.message_id().map(|m| format!("<{m}>")),
            Some(ack_id.clone())
        );
        assert_eq!(
            header(raw, "Auto-Submitted").as_deref(),
            Some("auto-replied")
        );
        assert_eq!(
            header(raw, "X-Auto-Response-Suppress").as_deref(),
            Some("All")
        );
        assert!(
            String::from_utf8_lossy(raw).contains("multipart/alternative"),
            "not multipart/alternative"
        );
        assert!(
            header(raw, "From")
                .unwrap_or_default()
                .contains("no-reply@peyk.example")
        );

        // The customer answers the acknowledgement without the tag: it threads by In-Reply-To.
        let reply = customer_email(
            2,
            customer,
            "Still broken",
            &format!("In-Reply-To: {ack_id}\r\nReferences: {ack_id}\r\n"),
        );
        let result = env
            .intake
            .ingest(parsed(&reply, env.clock.now_utc()))
            .await
            .expect("ingest reply");
        assert_eq!(result.outcome, IntakeOutcome::Reply, "{result:?}");
        assert_eq!(result.ticket_number.as_deref(), Some(number.as_str()));

        // An agent answers; the answer quotes the customer's last message.
        let agent = store::agents::create(
            env.store.db(),
            "agent@peyk.example",
            "Reza",
            "x",
            "agent",
            env.clock.now_utc(),
        )
        .await
        .expect("agent");
        let rules = ReplyRules::from_settings(&env.settings);
        let answer = reply_to_ticket(
            &env.store,
            env.shared.as_ref(),
            &rules,
            &number,
            agent.id,
            "Please restart the modem.",
            false,
        )
        .await
        .expect("reply");
        let note = reply_to_ticket(
            &env.store,
            env.shared.as_ref(),
            &rules,
            &number,
            agent.id,
            "Customer called twice.",
            true,
        )
        .await
        .expect("note");
        assert!(note.notification.is_none());
        assert_eq!(note.message.direction, "note");
        let ticket = store::tickets::find_by_number(env.store.db(), &number)
            .await
            .expect("db")
            .expect("ticket");
        assert_eq!(ticket.status, "answered");
        let (closed, closing) = close_ticket(
            &env.store,
            env.shared.as_ref(),
            &rules,
            &number,
            Some(agent.id),
        )
        .await
        .expect("close");
        assert_eq!(closed.status, "closed");
        assert!(closing.is_some());
        assert_eq!(
            env.drain(&worker).await,
            vec![DeliveryOutcome::Sent, DeliveryOutcome::Sent]
        );

        let inbox = imap.messages("INBOX").await;
        assert_eq!(inbox.len(), 3);
        let answer_raw = &inbox[1];
        let answer_row = answer.notification.expect("notification");
        let customer_reply_id = MessageParser::default()
            .parse(reply.as_slice())
            .and_then(|m| m.message_id().map(|id| format!("<{id}>")))
            .expect("reply id");
        assert_eq!(
            answer_row.in_reply_to.as_deref(),
            Some(customer_reply_id.as_str())
        );
        let parsed_answer = MessageParser::default()
            .parse(answer_raw.as_slice())
            .expect("parse");
        assert_eq!(
            parsed_answer
                .in_reply_to()
                .as_text()
                .map(|m| format!("<{m}>")),
            Some(customer_reply_id.clone())
        );
        assert_eq!(
            parsed_answer.message_id().map(|m| format!("<{m}>")),
            answer_row.message_id
        );
        assert_eq!(answer.message.message_id, answer_row.message_id);
        assert!(
            parsed_answer
                .subject()
                .is_some_and(|s| s.starts_with(&format!("[#{number}]")))
        );
        assert!(
            parsed_answer
                .body_text(0)
                .is_some_and(|b| b.contains("Please restart the modem."))
        );
        assert_eq!(
            header(answer_raw, "Auto-Submitted").as_deref(),
            Some("auto-generated")
        );
        let closing_raw = MessageParser::default()
            .parse(inbox[2].as_slice())
            .expect("parse");
        assert!(
            closing_raw
                .body_text(0)
                .is_some_and(|b| b.contains("has been closed") || b.contains("بسته شد"))
        );
        env.cleanup().await;
    }
}

#[tokio::test]
async fn smtp_down_then_up_delivers_every_notification_once() {
    for backend in backends() {
        let dovecot = Dovecot::start().await;
        let (cert, key) = dovecot.server_cert_files();
        let mut smtp = SmtpServer::start(&cert, &key, Some(dovecot.lmtp_port)).await;
        let env = Env::new(backend, |s| s.smtp = Some(smtp_settings(&smtp, &dovecot))).await;
        let worker = env.worker();
        for n in 0..5 {
            let address = format!("down{n}@customer.example");
            dovecot.add_user(&address, CUSTOMER_PASSWORD);
            env.ingest(parsed(
                &customer_email(n, &address, &format!("Problem {n}"), ""),
                env.clock.now_utc(),
            ))
            .await;
        }
        smtp.stop().await;
        assert_eq!(env.drain(&worker).await, vec![DeliveryOutcome::Retrying; 5]);
        for item in env.outbox().await {
            assert_eq!(item.status, "pending");
            assert_eq!(item.attempts, 1);
            assert!(item.next_attempt_at > env.clock.now_utc());
            assert!(item.last_error.is_some());
            assert!(item.lease_until.is_none());
        }
        // Still down a little later: a second transient failure, the delay grows.
        env.clock.advance(Duration::minutes(2));
        assert_eq!(env.drain(&worker).await, vec![DeliveryOutcome::Retrying; 5]);
        smtp.restart().await;
        // Up, but answering 421 for a while: still transient.
        smtp.set_tempfail(true);
        env.clock.advance(Duration::minutes(5));
        assert_eq!(env.drain(&worker).await, vec![DeliveryOutcome::Retrying; 5]);
        assert!(
            env.outbox().await.iter().all(|i| i
                .last_error
                .as_deref()
                .unwrap_or("")
                .contains("421"))
        );
        smtp.set_tempfail(false);
        env.clock.advance(Duration::minutes(30));
        assert_eq!(env.drain(&worker).await, vec![DeliveryOutcome::Sent; 5]);
        env.clock.advance(Duration::hours(2));
        assert!(env.drain(&worker).await.is_empty());
        let items = env.outbox().await;
        assert!(items.iter().all(|i| i.status == "sent" && i.attempts == 4));
        let deliveries = smtp.deliveries();
        assert_eq!(deliveries.len(), 5);
        let ids: HashSet<String> = deliveries.iter().map(|d| d.message_id.clone()).collect();
        let expected: HashSet<String> = items.iter().filter_map(|i| i.message_id.clone()).collect();
        assert_eq!(ids, expected);
        for n in 0..5 {
            let mut imap = dovecot
                .client_as(&format!("down{n}@customer.example"), CUSTOMER_PASSWORD)
                .await;
            assert_eq!(imap.messages("INBOX").await.len(), 1);
        }

        // A notification that meets only transient failures is dead after the horizon.
        smtp.set_tempfail(true);
        env.ingest(parsed(
            &customer_email(9, "late@customer.example", "Late", ""),
            env.clock.now_utc(),
        ))
        .await;
        let mut outcomes = Vec::new();
        for _ in 0..40 {
            outcomes.extend(env.drain(&worker).await);
            if outcomes.last() == Some(&DeliveryOutcome::Dead) {
                break;
            }
            env.clock.advance(Duration::hours(1));
        }
        assert_eq!(
            outcomes.last(),
            Some(&DeliveryOutcome::Dead),
            "{outcomes:?}"
        );
        let dead = env.outbox().await.pop().expect("row");
        assert_eq!(dead.status, "dead");
        assert!(dead.last_error.as_deref().unwrap_or("").contains("421"));
        assert!(dead.attempts > 5);
        env.cleanup().await;
    }
}

#[tokio::test]
async fn a_permanent_rejection_fails_at_once() {
    for backend in backends() {
        let dovecot = Dovecot::start().await;
        let (cert, key) = dovecot.server_cert_files();
        let smtp = SmtpServer::start(&cert, &key, None).await;
        let env = Env::new(backend, |s| s.smtp = Some(smtp_settings(&smtp, &dovecot))).await;
        let worker = env.worker();
        env.ingest(parsed(
            &customer_email(1, "reject-me@customer.example", "Hello", ""),
            env.clock.now_utc(),
        ))
        .await;
        assert_eq!(env.drain(&worker).await, vec![DeliveryOutcome::Failed]);
        env.clock.advance(Duration::hours(3));
        assert!(env.drain(&worker).await.is_empty());
        let item = env.outbox().await.remove(0);
        assert_eq!(item.status, "failed");
        assert_eq!(item.attempts, 1);
        assert!(
            item.last_error.as_deref().unwrap_or("").contains("550"),
            "{item:?}"
        );
        assert!(smtp.deliveries().is_empty());
        env.cleanup().await;
    }
}

/// A stand-in for the SMS providers' APIs: answers scripted per provider (the first path
/// segment), then a default success; records every request.
type Script = HashMap<String, VecDeque<(u16, String)>>;

#[derive(Clone, Default)]
struct Provider {
    script: Arc<Mutex<Script>>,
    requests: Arc<Mutex<Vec<(String, HeaderMap, String)>>>,
}

impl Provider {
    fn answer(&self, provider: &str, status: u16, body: &str) {
        self.script
            .lock()
            .unwrap()
            .entry(provider.to_string())
            .or_default()
            .push_back((status, body.to_string()));
    }

    fn requests(&self, provider: &str) -> Vec<(String, HeaderMap, String)> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(path, _, _)| path.starts_with(&format!("/{provider}/")))
            .cloned()
            .collect()
    }

    async fn start(&self) -> String {
        let state = self.clone();
        let app = axum::Router::new().fallback(
            move |uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move {
                    let path = uri.path().to_string();
                    let provider = path.split('/').nth(1).unwrap_or("").to_string();
                    state.requests.lock().unwrap().push((
                        path,
                        headers,
                        String::from_utf8_lossy(&body).into_owned(),
                    ));
                    let scripted = state
                        .script
                        .lock()
                        .unwrap()
                        .get_mut(&provider)
                        .and_then(VecDeque::pop_front);
                    let (status, body) = scripted.unwrap_or_else(|| match provider.as_str() {
                        "twilio" => (201, r#"{"sid":"SM0001","status":"queued"}"#.into()),
                        "kavenegar" => (
                            200,
                            r#"{"return":{"status":200,"message":"تایید شد"},"entries":[{"messageid":8792343,"status":1}]}"#.into(),
                        ),
                        _ => (200, r#"{"id":"gen-1"}"#.into()),
                    });
                    (
                        StatusCode::from_u16(status).unwrap(),
                        [("content-type", "application/json")],
                        body,
                    )
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        base
    }
}

#[tokio::test]
async fn sms_providers_retry_5xx_and_fail_4xx() {
    for backend in backends() {
        let provider = Provider::default();
        let base = provider.start().await;
        let env = Env::new(backend, |_| {}).await;
        let mut phone = 9121110000u64;
        for kind in [
            SmsProviderKind::Generic,
            SmsProviderKind::Twilio,
            SmsProviderKind::Kavenegar,
        ] {
            let mut settings = env.settings.clone();
            settings.sms.provider = kind;
            settings.sms.generic = Some(GenericSmsSettings {
                api_url: Some(format!("{base}/generic/send")),
                api_key: Some("generic-key".into()),
                inbound_secret: None,
            });
            settings.sms.twilio = Some(TwilioSettings {
                account_sid: Some("AC123".into()),
                auth_token: Some("twilio-token".into()),
                from: Some("+15005550006".into()),
                api_base: Some(format!("{base}/twilio")),
            });
            settings.sms.kavenegar = Some(KavenegarSettings {
                api_key: Some("kave-key".into()),
                sender: Some("10004346".into()),
                inbound_token: None,
                api_base: Some(format!("{base}/kavenegar")),
            });
            let worker = OutboxWorker::from_settings(
                env.store.clone(),
                env.shared.clone(),
                &settings,
                env.intake.outbox_wakeup(),
            )
            .expect("worker");
            let name = match kind {
                SmsProviderKind::Generic => "generic",
                SmsProviderKind::Twilio => "twilio",
                _ => "kavenegar",
            };
            let (server_error, client_error) = match kind {
                SmsProviderKind::Kavenegar => (
                    (
                        500,
                        r#"{"return":{"status":500,"message":"error"},"entries":null}"#,
                    ),
                    (
                        403,
                        r#"{"return":{"status":403,"message":"API-Key invalid"},"entries":null}"#,
                    ),
                ),
                _ => (
                    (500, r#"{"error":"busy"}"#),
                    (401, r#"{"error":"unauthorized"}"#),
                ),
            };

            // 500 then 200: retried, then sent with the provider's id.
            phone += 1;
            env.ingest(sms_item(
                &format!("{name}-1"),
                &format!("0{phone}"),
                "Internet is down",
                env.clock.now_utc(),
            ))
            .await;
            provider.answer(name, server_error.0, server_error.1);
            assert_eq!(env.drain(&worker).await, vec![DeliveryOutcome::Retrying]);
            env.clock.advance(Duration::minutes(5));
            assert_eq!(env.drain(&worker).await, vec![DeliveryOutcome::Sent]);
            let sent = env.outbox().await.pop().expect("row");
            assert_eq!((sent.status.as_str(), sent.attempts), ("sent", 2));
            assert_eq!(sent.channel, "sms");
            assert_eq!(sent.recipient, format!("+98{phone}"));
            let expected_id = match kind {
                SmsProviderKind::Generic => "gen-1",
                SmsProviderKind::Twilio => "SM0001",
                _ => "8792343",
            };
            assert_eq!(sent.provider_message_id.as_deref(), Some(expected_id));

            // 401 (403 for Kavenegar: invalid API key): failed, not retried.
            phone += 1;
            env.ingest(sms_item(
                &format!("{name}-2"),
                &format!("0{phone}"),
                "Another problem",
                env.clock.now_utc(),
            ))
            .await;
            provider.answer(name, client_error.0, client_error.1);
            assert_eq!(env.drain(&worker).await, vec![DeliveryOutcome::Failed]);
            env.clock.advance(Duration::hours(2));
            assert!(env.drain(&worker).await.is_empty());
            let failed = env.outbox().await.pop().expect("row");
            assert_eq!((failed.status.as_str(), failed.attempts), ("failed", 1));
            assert!(
                failed
                    .last_error
                    .as_deref()
                    .is_some_and(|e| e.contains(&client_error.0.to_string())),
                "{failed:?}"
            );

            let requests = provider.requests(name);
            assert_eq!(requests.len(), 3, "{name}");
            let (path, headers, body) = &requests[1];
            match kind {
                SmsProviderKind::Generic => {
                    assert_eq!(path, "/generic/send");
                    assert_eq!(headers.get("authorization").unwrap(), "Bearer generic-key");
                    let json: serde_json::Value = serde_json::from_str(body).unwrap();
                    assert_eq!(json["to"], format!("+98{}", phone - 1));
                    assert!(!json["text"].as_str().unwrap().is_empty());
                    assert_eq!(json["id"], sent.id.to_string());
                }
                SmsProviderKind::Twilio => {
                    assert_eq!(path, "/twilio/2010-04-01/Accounts/AC123/Messages.json");
                    let auth = headers.get("authorization").unwrap().to_str().unwrap();
                    use base64::Engine;
                    assert_eq!(
                        auth,
                        format!(
                            "Basic {}",
                            base64::engine::general_purpose::STANDARD.encode("AC123:twilio-token")
                        )
                    );
                    assert!(body.contains("From=%2B15005550006"), "{body}");
                    assert!(body.contains(&format!("To=%2B98{}", phone - 1)), "{body}");
                    assert!(body.contains("Body="), "{body}");
                }
                _ => {
                    assert_eq!(path, "/kavenegar/v1/kave-key/sms/send.json");
                    assert!(body.contains(&format!("receptor=0{}", phone - 1)), "{body}");
                    assert!(body.contains("sender=10004346"), "{body}");
                    assert!(body.contains("message="), "{body}");
                }
            }
        }
        env.cleanup().await;
    }
}

#[tokio::test]
async fn loop_guards_own_addresses_budget_and_bounced_channels() {
    for backend in backends() {
        // No [smtp]: mail goes to .eml files; SMS to the log.
        let env = Env::new(backend, |s| s.notify.per_recipient_per_hour = 2).await;
        let worker = env.worker();
        let eml_dir = worker
            .email()
            .file_dir()
            .expect("file transport")
            .to_path_buf();

        // Budget: the third automatic notification to one address within the hour fails.
        for n in 0..3 {
            env.ingest(parsed(
                &customer_email(n, "loop@customer.example", &format!("Auto {n}"), ""),
                env.clock.now_utc(),
            ))
            .await;
        }
        assert_eq!(
            env.drain(&worker).await,
            vec![
                DeliveryOutcome::Sent,
                DeliveryOutcome::Sent,
                DeliveryOutcome::Failed
            ]
        );
        let last = env.outbox().await.pop().expect("row");
        assert!(
            last.last_error
                .as_deref()
                .is_some_and(|e| e.starts_with("loop budget")),
            "{last:?}"
        );
        let files = std::fs::read_dir(&eml_dir).expect("eml dir").count();
        assert_eq!(files, 2);

        // Own address: a notification addressed to Peyk itself is never sent.
        outbox::enqueue(
            env.store.db(),
            outbox::NewNotification {
                ticket_id: last.ticket_id,
                ticket_message_id: None,
                channel: "email".into(),
                kind: "ticket_closed".into(),
                recipient: "Support@Peyk.example".into(),
                language: "en".into(),
                subject: Some("[#1] x".into()),
                body_text: "x".into(),
                body_html: None,
                message_id: Some("<own@peyk.example>".into()),
                in_reply_to: None,
                references: None,
            },
            env.clock.now_utc(),
        )
        .await
        .expect("enqueue");
        assert_eq!(env.drain(&worker).await, vec![DeliveryOutcome::Failed]);
        let own = env.outbox().await.pop().expect("row");
        assert!(
            own.last_error
                .as_deref()
                .is_some_and(|e| e.contains("own addresses")),
            "{own:?}"
        );

        // A bounced email address: the acknowledgement moves to the customer's phone.
        env.ingest(parsed(
            &customer_email(7, "bouncy@customer.example", "Phone me", ""),
            env.clock.now_utc(),
        ))
        .await;
        customer::Entity::update_many()
            .col_expr(customer::Column::Phone, Expr::value("+989121234567"))
            .col_expr(
                customer::Column::EmailBouncedAt,
                Expr::value(Some(env.clock.now_utc())),
            )
            .filter(customer::Column::Email.eq("bouncy@customer.example"))
            .exec(env.store.db())
            .await
            .expect("update");
        assert_eq!(env.drain(&worker).await, vec![DeliveryOutcome::Sent]);
        let moved = env.outbox().await.pop().expect("row");
        assert_eq!(moved.channel, "sms");
        assert_eq!(moved.recipient, "+989121234567");
        assert_eq!(moved.status, "sent");

        // Bounced with no other channel: failed with the reason.
        env.ingest(parsed(
            &customer_email(8, "gone@customer.example", "Nobody", ""),
            env.clock.now_utc(),
        ))
        .await;
        customer::Entity::update_many()
            .col_expr(
                customer::Column::EmailBouncedAt,
                Expr::value(Some(env.clock.now_utc())),
            )
            .filter(customer::Column::Email.eq("gone@customer.example"))
            .exec(env.store.db())
            .await
            .expect("update");
        assert_eq!(env.drain(&worker).await, vec![DeliveryOutcome::Failed]);
        let gone = env.outbox().await.pop().expect("row");
        assert!(
            gone.last_error
                .as_deref()
                .is_some_and(|e| e.contains("bounced")),
            "{gone:?}"
        );
        env.cleanup().await;
    }
}

#[tokio::test]
async fn two_workers_deliver_a_thousand_notifications_once() {
    const COUNT: usize = 1000;
    for backend in backends() {
        let certs = tempfile::tempdir().expect("dir");
        crate::dovecot::make_certificates(certs.path());
        let smtp = SmtpServer::start(
            &certs.path().join("server.pem"),
            &certs.path().join("server.key"),
            None,
        )
        .await;
        let env = Env::new(backend, |s| {
            s.smtp = Some(SmtpSettings {
                url: smtp.url(),
                ca_file: Some(certs.path().join("ca.pem")),
            });
            s.notify.per_recipient_per_hour = 0;
        })
        .await;
        let now = env.clock.now_utc();
        for chunk in (0..COUNT).collect::<Vec<_>>().chunks(200) {
            let items = chunk
                .iter()
                .map(|n| {
                    parsed(
                        &customer_email(*n, &format!("bulk{n}@customer.example"), "Bulk", ""),
                        now,
                    )
                })
                .collect();
            env.intake.ingest_batch(items).await.expect("batch");
        }
        // Two workers as two processes would run them: their own connections and lease names.
        let cancel = CancellationToken::new();
        let mut running = Vec::new();
        for name in ["worker-a", "worker-b"] {
            let store = env.db.store().await;
            let worker = OutboxWorker::from_settings(
                store,
                env.shared.clone(),
                &env.settings,
                env.intake.outbox_wakeup(),
            )
            .expect("worker")
            .with_id(name);
            running.push(tokio::spawn(worker.run(cancel.child_token())));
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        loop {
            let sent = outbox::count_by_status(env.store.db(), "sent")
                .await
                .expect("count");
            if sent as usize == COUNT {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "only {sent} of {COUNT} sent"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        cancel.cancel();
        for r in running {
            r.await.expect("worker task");
        }
        let deliveries = smtp.deliveries();
        let unique: HashSet<&str> = deliveries.iter().map(|d| d.message_id.as_str()).collect();
        assert_eq!(
            deliveries.len(),
            COUNT,
            "a notification was delivered twice"
        );
        assert_eq!(unique.len(), COUNT);
        let items = env.outbox().await;
        assert!(items.iter().all(|i| i.attempts == 1 && i.status == "sent"));
        env.cleanup().await;
    }
}
