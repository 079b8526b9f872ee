//! The read side (`store::queue`: queue order, filters, search, ticket detail, receipts,
//! outbox) through the library, and the JSON API of CONTRACT.md through the running app over
//! HTTP: authentication, shapes, paging, errors, replies, status changes, downloads.

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use peyk::app::{App, AppError};
use peyk::clock::{SettableClock, SharedClock};
use peyk::config::Settings;
use peyk::domain::contact::PhoneNumber;
use peyk::domain::digits::{to_arabic_indic_digits, to_persian_digits};
use peyk::domain::message::{AutomationSignals, InboundMessage, Sender};
use peyk::domain::ticket::{Channel, Priority, TicketStatus};
use peyk::inbound::email::parse_email;
use peyk::intake::{InboundItem, Intake, IntakeOutcome};
use peyk::service::agents::{AgentRole, add_agent};
use peyk::service::replies::{ReplyRules, close_ticket, reply_to_ticket};
use peyk::store::queue::{
    self, AssigneeFilter, Search, StatusFilter, TicketFilter, TicketPage, parse_search,
};
use peyk::store::{self, Store};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::harness::{TestDb, backends, settable_clock};

const START: &str = "2026-11-30T08:00:00Z";
/// Attachments larger than this are refused by [`email_with_attachments`].
const ATTACHMENT_LIMIT: u64 = 2000;

fn email(from: &str, subject: &str, body: &str, now: DateTime<Utc>) -> InboundItem {
    email_in(from, subject, body, None, "", now)
}

fn email_in(
    from: &str,
    subject: &str,
    body: &str,
    department: Option<&str>,
    extra_headers: &str,
    now: DateTime<Utc>,
) -> InboundItem {
    let raw = format!(
        "From: {from}\r\nTo: support@peyk.example\r\nSubject: {subject}\r\nMessage-ID: <m{:016x}@customer.example>\r\n{extra_headers}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        rand::random::<u64>()
    );
    parsed(raw.as_bytes(), department, now)
}

fn parsed(raw: &[u8], department: Option<&str>, now: DateTime<Utc>) -> InboundItem {
    InboundItem::Parsed(Box::new(
        parse_email(raw, "import", department, ATTACHMENT_LIMIT, now)
            .result
            .expect("parses"),
    ))
}

/// A mail with a small PDF named in Persian and a binary over the limit (refused).
fn email_with_attachments(from: &str, subject: &str, now: DateTime<Utc>) -> InboundItem {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let raw = format!(
        "From: {from}\r\nTo: support@peyk.example\r\nSubject: {subject}\r\nMessage-ID: <att{:016x}@customer.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached.\r\n--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=UTF-8''%D9%81%D8%A7%DA%A9%D8%AA%D9%88%D8%B1%20%221%22.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"big.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
        rand::random::<u64>(),
        b64(b"%PDF-1.4 tiny"),
        b64(&vec![7u8; 3000]),
    );
    parsed(raw.as_bytes(), None, now)
}

fn sms(from: &str, text: &str, now: DateTime<Utc>) -> InboundItem {
    let id = format!("sms-{:016x}", rand::random::<u64>());
    InboundItem::Parsed(Box::new(InboundMessage {
        channel: Channel::Sms,
        source: "sms:test".into(),
        external_id: id.clone(),
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
        provider_message_id: Some(id.clone()),
        signals: AutomationSignals::default(),
        raw: None,
        content_hash: format!("sha256:{id}"),
        received_at: now,
        department: None,
    }))
}

async fn ingest(intake: &Intake, item: InboundItem) -> String {
    let result = intake.ingest(item).await.expect("ingest");
    result.ticket_number.expect("a ticket")
}

async fn ticket(store: &Store, number: &str) -> store::tickets::Ticket {
    store::tickets::find_by_number(store.db(), number)
        .await
        .expect("db")
        .expect("ticket")
}

fn numbers(page: &TicketPage) -> Vec<String> {
    page.rows.iter().map(|r| r.ticket.number.clone()).collect()
}

fn all_statuses() -> TicketFilter {
    TicketFilter {
        status: StatusFilter::All,
        count_cap: None,
        ..TicketFilter::default()
    }
}

async fn list(store: &Store, filter: &TicketFilter) -> TicketPage {
    let page = queue::list_tickets(store.db(), filter).await.expect("list");
    let by_offset = queue::list_tickets_by_offset(store.db(), filter)
        .await
        .expect("list by offset");
    assert_eq!(
        numbers(&page),
        numbers(&by_offset),
        "both plans give one order"
    );
    assert_eq!(page.total, by_offset.total);
    page
}

async fn search(store: &Store, q: &str) -> Vec<String> {
    numbers(
        &list(
            store,
            &TicketFilter {
                query: Some(q.into()),
                ..all_statuses()
            },
        )
        .await,
    )
}

#[tokio::test]
async fn api_queue_orders_by_waiting_time_and_a_bump_keeps_the_place() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let (clock, shared) = settable_clock(START);
        let (store, intake) = db.intake(shared).await;
        let a = ingest(
            &intake,
            email("a@example.com", "First", "one", clock.now_utc()),
        )
        .await;
        clock.advance(Duration::minutes(10));
        let b = ingest(
            &intake,
            email("b@example.com", "Second", "two", clock.now_utc()),
        )
        .await;
        clock.advance(Duration::minutes(10));
        let c = ingest(
            &intake,
            email("c@example.com", "Third", "three", clock.now_utc()),
        )
        .await;
        let waiting = TicketFilter::default();
        assert_eq!(
            numbers(&list(&store, &waiting).await),
            [a.as_str(), b.as_str(), c.as_str()]
        );

        // The newest ticket's customer writes again: it stays last, although it is now the
        // most recently updated.
        clock.advance(Duration::minutes(10));
        intake
            .ingest(email(
                "c@example.com",
                &format!("Re: [#{c}] Third"),
                "any news?",
                clock.now_utc(),
            ))
            .await
            .expect("bump");
        assert_eq!(
            numbers(&list(&store, &waiting).await),
            [a.as_str(), b.as_str(), c.as_str()]
        );

        // The oldest is answered: it leaves the waiting queue, and in "all" comes after every
        // waiting ticket.
        let t = ticket(&store, &a).await;
        store::tickets::set_status(
            store.db(),
            t.id,
            TicketStatus::Answered,
            None,
            "test",
            clock.now_utc(),
        )
        .await
        .expect("answer");
        assert_eq!(
            numbers(&list(&store, &waiting).await),
            [b.as_str(), c.as_str()]
        );
        assert_eq!(
            numbers(&list(&store, &all_statuses()).await),
            [b.as_str(), c.as_str(), a.as_str()]
        );

        // Its customer writes again: waiting from now, so behind those waiting longer.
        clock.advance(Duration::minutes(10));
        intake
            .ingest(email(
                "a@example.com",
                &format!("Re: [#{a}] First"),
                "still broken",
                clock.now_utc(),
            ))
            .await
            .expect("reopen");
        assert_eq!(
            numbers(&list(&store, &waiting).await),
            [b.as_str(), c.as_str(), a.as_str()]
        );

        // In progress still waits; paging walks the same order.
        let t = ticket(&store, &c).await;
        store::tickets::set_status(
            store.db(),
            t.id,
            TicketStatus::InProgress,
            None,
            "test",
            clock.now_utc(),
        )
        .await
        .expect("in progress");
        let page = |n| TicketFilter {
            page: n,
            per_page: 2,
            ..TicketFilter::default()
        };
        let first = list(&store, &page(1)).await;
        assert_eq!(numbers(&first), [b.as_str(), c.as_str()]);
        assert_eq!((first.total, first.total_is_capped), (3, false));
        assert!(first.has_next());
        let second = list(&store, &page(2)).await;
        assert_eq!(numbers(&second), [a.as_str()]);
        assert!(!second.has_next());
        assert!(numbers(&list(&store, &page(3)).await).is_empty());
        let only = |s| TicketFilter {
            status: StatusFilter::One(s),
            ..TicketFilter::default()
        };
        assert_eq!(
            numbers(&list(&store, &only(TicketStatus::InProgress)).await),
            [c.as_str()]
        );
        assert!(numbers(&list(&store, &only(TicketStatus::Closed)).await).is_empty());

        // Rows carry what a queue line shows.
        let rows = list(&store, &all_statuses()).await.rows;
        let row_a = rows.iter().find(|r| r.ticket.number == a).expect("a");
        assert_eq!(row_a.customer.email.as_deref(), Some("a@example.com"));
        assert_eq!(row_a.message_count, 2);
        assert_eq!(row_a.last_message_at, Some(clock.now_utc()));
        db.cleanup().await;
    }
}

#[test]
fn api_search_texts_are_classified() {
    assert_eq!(
        parse_search("ali@example.com", "IR"),
        Some(Search::Email("ali@example.com".into()))
    );
    assert_eq!(
        parse_search("09121234567", "IR"),
        Some(Search::Phone("+989121234567".into()))
    );
    assert_eq!(
        parse_search("slow", "IR"),
        Some(Search::Subject("slow".into()))
    );
}

#[tokio::test]
async fn api_queue_search_finds_numbers_in_any_digits_emails_phones_and_subjects() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let (clock, shared) = settable_clock(START);
        let (store, intake) = db.intake(shared).await;
        let slow = ingest(
            &intake,
            email(
                "Ali Rezaei <Ali.Rezaei@Example.com>",
                "Slow LINE since Monday (50% loss)",
                "slow",
                clock.now_utc(),
            ),
        )
        .await;
        clock.advance(Duration::minutes(1));
        let invoice = ingest(
            &intake,
            email(
                "sara@example.org",
                "فاکتور اشتباه است",
                "invoice",
                clock.now_utc(),
            ),
        )
        .await;
        clock.advance(Duration::minutes(1));
        let text = ingest(
            &intake,
            sms("09121234567", "اینترنت قطع است", clock.now_utc()),
        )
        .await;

        assert_eq!(search(&store, &slow).await, [slow.as_str()]);
        assert_eq!(
            search(&store, &to_persian_digits(&invoice)).await,
            [invoice.as_str()]
        );
        assert_eq!(
            search(&store, &format!("#{}", to_arabic_indic_digits(&text))).await,
            [text.as_str()]
        );
        assert_eq!(
            search(&store, &to_persian_digits(&slow[..4])).await.first(),
            Some(&slow)
        );

        assert_eq!(
            search(&store, "ali.rezaei@example.com").await,
            [slow.as_str()]
        );
        assert_eq!(search(&store, "ALI.REZAEI@").await, [slow.as_str()]);
        assert_eq!(search(&store, "sara@example").await, [invoice.as_str()]);
        assert!(search(&store, "nobody@example.com").await.is_empty());
        assert!(search(&store, "%@example.com").await.is_empty());

        assert_eq!(search(&store, "۰۹۱۲ ۱۲۳ ۴۵۶۷").await, [text.as_str()]);
        assert_eq!(search(&store, "+989121234567").await, [text.as_str()]);
        assert!(search(&store, "09351234567").await.is_empty());

        assert_eq!(search(&store, "slow line").await, [slow.as_str()]);
        assert_eq!(search(&store, "50%").await, [slow.as_str()]);
        assert!(search(&store, "5_%").await.is_empty());
        assert_eq!(search(&store, "اشتباه").await, [invoice.as_str()]);
        assert!(search(&store, "refund").await.is_empty());

        // A customer's tickets: the waiting one first, then the closed one; a long number
        // prefix (read through the number's index) agrees with the general plan.
        clock.advance(Duration::minutes(1));
        let later = ingest(
            &intake,
            email(
                "ali.rezaei@example.com",
                "Another question",
                "?",
                clock.now_utc(),
            ),
        )
        .await;
        let rules = ReplyRules::from_settings(&db.settings());
        let shared: SharedClock = std::sync::Arc::new(clock.clone());
        close_ticket(&store, shared.as_ref(), &rules, &slow, None)
            .await
            .expect("close");
        assert_eq!(
            search(&store, "ali.rezaei@example.com").await,
            [later.as_str(), slow.as_str()]
        );
        assert_eq!(search(&store, &later[..3]).await.first(), Some(&later));
        let waiting_only = TicketFilter {
            query: Some("ali.rezaei@".into()),
            ..TicketFilter::default()
        };
        assert_eq!(
            numbers(&list(&store, &waiting_only).await),
            [later.as_str()]
        );

        // Search and status filter both apply.
        let closed_only = |q: &str| TicketFilter {
            status: StatusFilter::One(TicketStatus::Closed),
            query: Some(q.into()),
            ..TicketFilter::default()
        };
        assert!(numbers(&list(&store, &closed_only(&later)).await).is_empty());
        assert_eq!(
            numbers(&list(&store, &closed_only(&to_persian_digits(&slow))).await),
            [slow.as_str()]
        );
        let waiting = TicketFilter {
            query: Some(slow.clone()),
            ..TicketFilter::default()
        };
        assert!(numbers(&list(&store, &waiting).await).is_empty());
        db.cleanup().await;
    }
}

#[tokio::test]
async fn api_queue_filters_department_priority_assignee_and_caps_the_count() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let (clock, shared) = settable_clock(START);
        let (store, intake) = db.intake(shared.clone()).await;
        let sales = ingest(
            &intake,
            email_in(
                "x@example.com",
                "Quote",
                "price?",
                Some("sales"),
                "",
                clock.now_utc(),
            ),
        )
        .await;
        clock.advance(Duration::minutes(1));
        let urgent = ingest(
            &intake,
            email("y@example.com", "Down", "down", clock.now_utc()),
        )
        .await;
        clock.advance(Duration::minutes(1));
        let mine = ingest(
            &intake,
            email("z@example.com", "Help", "help", clock.now_utc()),
        )
        .await;
        let agent = add_agent(
            &store,
            shared.as_ref(),
            "agent@peyk.example",
            "Agent",
            "a long password",
            AgentRole::Agent,
        )
        .await
        .expect("agent");
        let now = clock.now_utc();
        let urgent_id = ticket(&store, &urgent).await.id;
        store::ticket_fields::set_priority(store.db(), urgent_id, Priority::Urgent, agent.id, now)
            .await
            .expect("priority");
        let mine_id = ticket(&store, &mine).await.id;
        store::ticket_fields::set_assignee(store.db(), mine_id, Some(agent.id), agent.id, now)
            .await
            .expect("assign");

        let department = TicketFilter {
            department: Some("sales".into()),
            ..TicketFilter::default()
        };
        let rows = list(&store, &department).await.rows;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].ticket.number, sales);
        assert_eq!(
            rows[0].department.as_ref().map(|d| d.key.as_str()),
            Some("sales")
        );
        let unknown = TicketFilter {
            department: Some("nowhere".into()),
            ..TicketFilter::default()
        };
        assert_eq!(list(&store, &unknown).await.total, 0);
        let priority = TicketFilter {
            priority: Some(Priority::Urgent),
            ..TicketFilter::default()
        };
        assert_eq!(numbers(&list(&store, &priority).await), [urgent.as_str()]);
        let assigned = TicketFilter {
            assignee: AssigneeFilter::Agent(agent.id),
            ..TicketFilter::default()
        };
        let rows = list(&store, &assigned).await.rows;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].ticket.number, mine);
        assert_eq!(rows[0].assignee.as_ref().map(|a| a.id), Some(agent.id));
        let unassigned = TicketFilter {
            assignee: AssigneeFilter::Unassigned,
            ..TicketFilter::default()
        };
        assert_eq!(
            numbers(&list(&store, &unassigned).await),
            [sales.as_str(), urgent.as_str()]
        );

        let capped = TicketFilter {
            count_cap: Some(2),
            per_page: 1,
            ..TicketFilter::default()
        };
        let page = list(&store, &capped).await;
        assert_eq!((page.total, page.total_is_capped), (2, true));
        assert!(page.has_next());
        let exact = TicketFilter {
            count_cap: Some(3),
            ..TicketFilter::default()
        };
        let page = list(&store, &exact).await;
        assert_eq!((page.total, page.total_is_capped), (3, false));
        let clamped = TicketFilter {
            per_page: 100_000,
            page: 0,
            ..TicketFilter::default()
        };
        let page = list(&store, &clamped).await;
        assert_eq!((page.page, page.per_page), (1, queue::MAX_PER_PAGE));
        db.cleanup().await;
    }
}

fn rules(settings: &Settings) -> ReplyRules {
    ReplyRules::from_settings(settings)
}

#[tokio::test]
async fn api_ticket_detail_has_thread_attachments_notifications_other_tickets_and_events() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let (clock, shared) = settable_clock(START);
        let (store, intake) = db.intake(shared.clone()).await;
        let settings = db.settings();
        let older = ingest(
            &intake,
            email("sara@example.com", "Older", "older", clock.now_utc()),
        )
        .await;
        close_ticket(&store, shared.as_ref(), &rules(&settings), &older, None)
            .await
            .expect("close");
        clock.advance(Duration::minutes(5));
        let number = ingest(
            &intake,
            email_with_attachments("Sara <sara@example.com>", "Invoice", clock.now_utc()),
        )
        .await;
        let agent = add_agent(
            &store,
            shared.as_ref(),
            "agent@peyk.example",
            "Agent Smith",
            "a long password",
            AgentRole::Agent,
        )
        .await
        .expect("agent");
        clock.advance(Duration::minutes(5));
        let reply = reply_to_ticket(
            &store,
            shared.as_ref(),
            &rules(&settings),
            &number,
            agent.id,
            "We are on it.",
            false,
        )
        .await
        .expect("reply");

        let detail = queue::ticket_detail(store.db(), &to_persian_digits(&number))
            .await
            .expect("detail")
            .expect("found");
        assert_eq!(detail.ticket.number, number);
        assert_eq!(detail.ticket.status, "answered");
        assert_eq!(detail.customer.email.as_deref(), Some("sara@example.com"));
        assert_eq!(detail.messages.len(), 2);
        let first = &detail.messages[0];
        assert_eq!(first.message.direction, "inbound");
        assert!(
            first
                .message
                .message_id
                .as_deref()
                .is_some_and(|id| id.starts_with("<att") && id.ends_with('>'))
        );
        assert_eq!(first.attachments.len(), 2);
        let pdf = &first.attachments[0];
        assert_eq!(pdf.filename, "فاکتور \"1\".pdf");
        assert!(!pdf.refused);
        let big = &first.attachments[1];
        assert!(big.refused);
        assert!(big.refused_reason.is_some());
        let second = &detail.messages[1];
        assert_eq!(second.message.direction, "outbound");
        assert_eq!(second.message.id, reply.message.id);
        assert_eq!(detail.newest_message_id(), Some(reply.message.id));
        let kinds: Vec<&str> = detail.outbox.iter().map(|o| o.kind.as_str()).collect();
        assert_eq!(kinds, ["ticket_received", "agent_reply"]);
        let delivered: Vec<i64> = detail
            .deliveries_of(reply.message.id)
            .map(|o| o.id)
            .collect();
        assert_eq!(
            delivered,
            [reply.notification.as_ref().expect("notification").id]
        );
        assert_eq!(
            detail
                .other_tickets
                .iter()
                .map(|t| t.number.as_str())
                .collect::<Vec<_>>(),
            [older.as_str()]
        );
        assert!(
            detail
                .events
                .iter()
                .any(|e| e.kind == "status" && e.new_value.as_deref() == Some("answered"))
        );

        let content = queue::attachment(store.db(), pdf.id)
            .await
            .expect("db")
            .expect("attachment");
        assert_eq!(content.content.as_deref(), Some(&b"%PDF-1.4 tiny"[..]));
        assert_eq!(
            queue::ticket_number_of_attachment(store.db(), pdf.id)
                .await
                .expect("db"),
            Some(number.clone())
        );
        assert!(
            queue::attachment(store.db(), 999_999)
                .await
                .expect("db")
                .is_none()
        );
        assert!(
            queue::ticket_detail(store.db(), "1234567")
                .await
                .expect("db")
                .is_none()
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn api_receipts_and_outbox_list_newest_first_with_ticket_numbers() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let (clock, shared) = settable_clock(START);
        let (store, intake) = db.intake(shared).await;
        let first = ingest(
            &intake,
            email("a@example.com", "One", "one", clock.now_utc()),
        )
        .await;
        clock.advance(Duration::minutes(1));
        let ignored = intake
            .ingest(email_in(
                "robot@example.com",
                "Out of office",
                "away",
                None,
                "Auto-Submitted: auto-replied\r\n",
                clock.now_utc(),
            ))
            .await
            .expect("ingest");
        assert_eq!(ignored.outcome, IntakeOutcome::Ignored);
        clock.advance(Duration::minutes(1));
        let second = ingest(&intake, sms("09121234567", "help", clock.now_utc())).await;

        let all = queue::list_receipts(store.db(), None, 1, 50)
            .await
            .expect("receipts");
        assert_eq!(all.total, 3);
        let outcomes: Vec<&str> = all.rows.iter().map(|r| r.outcome.as_str()).collect();
        assert_eq!(outcomes, ["new_ticket", "ignored", "new_ticket"]);
        assert_eq!(all.rows[0].ticket_number.as_deref(), Some(second.as_str()));
        assert_eq!(all.rows[1].ticket_number, None);
        assert_eq!(all.rows[2].ticket_number.as_deref(), Some(first.as_str()));
        let only = queue::list_receipts(store.db(), Some("ignored"), 1, 50)
            .await
            .expect("receipts");
        assert_eq!(only.total, 1);
        assert_eq!(only.rows[0].reason.as_deref(), Some("autoreply"));
        let paged = queue::list_receipts(store.db(), None, 2, 2)
            .await
            .expect("receipts");
        assert_eq!((paged.total, paged.rows.len()), (3, 1));

        let outbox = queue::list_outbox(store.db(), None, 1, 50)
            .await
            .expect("outbox");
        assert_eq!(outbox.total, 2);
        assert_eq!(outbox.rows[0].ticket_number, second);
        assert_eq!(outbox.rows[0].item.channel, "sms");
        assert_eq!(outbox.rows[1].ticket_number, first);
        assert_eq!(outbox.rows[1].item.kind, "ticket_received");
        let sent = queue::list_outbox(store.db(), Some("sent"), 1, 50)
            .await
            .expect("outbox");
        assert_eq!((sent.total, sent.rows.len()), (0, 0));
        db.cleanup().await;
    }
}

// ---------------------------------------------------------------------------------------------
// The JSON API over HTTP.

/// The app, running on a free port, with its first admin's credentials.
struct Server {
    base: String,
    client: reqwest::Client,
    store: Store,
    intake: Intake,
    clock: SettableClock,
    shared: SharedClock,
    admin: (String, String),
    stop: oneshot::Sender<()>,
    running: JoinHandle<Result<(), AppError>>,
}

impl Server {
    async fn start(db: &TestDb) -> Server {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (clock, shared) = settable_clock(START);
        let mut settings = db.settings();
        settings.notify.from = "Support <no-reply@peyk.example>".into();
        let app = App::build(settings, shared.clone())
            .await
            .expect("app builds");
        let base = format!("http://{}", app.local_addr().expect("bound"));
        let admin = app.first_admin.clone().expect("first admin");
        let store = app.store().clone();
        let intake = app.intake().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let running = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        Server {
            base,
            client: reqwest::Client::new(),
            store,
            intake,
            clock,
            shared,
            admin,
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

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str) -> Answer {
        let (email, password) = &self.admin;
        Answer::of(
            self.client
                .get(self.url(path))
                .basic_auth(email, Some(password))
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        let (email, password) = &self.admin;
        Answer::of(
            self.client
                .post(self.url(path))
                .basic_auth(email, Some(password))
                .json(&body)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    /// Waits until the outbox worker has sent everything.
    async fn drain_outbox(&self) {
        for _ in 0..200 {
            let pending = store::outbox::count_by_status(self.store.db(), "pending")
                .await
                .expect("count");
            if pending == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the outbox worker did not send everything");
    }
}

/// An answer, read whole.
struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    bytes: Vec<u8>,
}

impl Answer {
    async fn of(response: reqwest::Response) -> Answer {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body").to_vec();
        Answer {
            status,
            headers,
            bytes,
        }
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {:?}",
                self.status,
                String::from_utf8_lossy(&self.bytes)
            )
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A JSON error with this status and a non-empty message.
    #[track_caller]
    fn assert_error(&self, status: StatusCode) {
        assert_eq!(
            self.status,
            status,
            "{:?}",
            String::from_utf8_lossy(&self.bytes)
        );
        assert!(
            self.header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "{:?}",
            self.headers
        );
        let body = self.json();
        assert!(
            body["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }

    #[track_caller]
    fn ok(&self) -> Value {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "{:?}",
            String::from_utf8_lossy(&self.bytes)
        );
        self.json()
    }
}

fn is_rfc3339(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| DateTime::parse_from_rfc3339(s).is_ok())
}

#[track_caller]
fn assert_ticket_shape(t: &Value) {
    for key in ["number", "subject", "status", "priority", "channel"] {
        assert!(t[key].is_string(), "{key} in {t}");
    }
    assert!(
        t["department"].is_string() || t["department"].is_null(),
        "{t}"
    );
    let customer = t["customer"].as_object().expect("customer");
    for key in ["name", "email", "phone"] {
        assert!(customer.contains_key(key), "customer.{key} in {t}");
    }
    assert!(is_rfc3339(&t["created_at"]), "{t}");
    assert!(is_rfc3339(&t["updated_at"]), "{t}");
}

#[track_caller]
fn assert_message_shape(m: &Value) {
    assert!(m["id"].is_i64(), "{m}");
    assert!(
        ["inbound", "outbound", "note"].contains(&m["direction"].as_str().unwrap_or("")),
        "{m}"
    );
    assert!(m["channel"].is_string(), "{m}");
    assert!(
        m.as_object().is_some_and(|o| o.contains_key("author")),
        "{m}"
    );
    assert!(m["body_text"].is_string(), "{m}");
    assert!(is_rfc3339(&m["created_at"]), "{m}");
    assert!(
        m["message_id"].is_null()
            || m["message_id"]
                .as_str()
                .is_some_and(|id| id.starts_with('<') && id.ends_with('>')),
        "{m}"
    );
    assert!(m["attachments"].is_array(), "{m}");
}

#[track_caller]
fn assert_outbox_shape(o: &Value) {
    assert!(o["id"].is_i64(), "{o}");
    assert!(
        ["email", "sms"].contains(&o["channel"].as_str().unwrap_or("")),
        "{o}"
    );
    for key in ["kind", "recipient", "ticket_number", "status"] {
        assert!(o[key].is_string(), "{key} in {o}");
    }
    assert!(
        ["pending", "sent", "failed", "dead"].contains(&o["status"].as_str().unwrap_or("")),
        "{o}"
    );
    assert!(o["attempts"].is_i64(), "{o}");
    let fields = o.as_object().expect("object");
    assert!(
        fields.contains_key("message_id") && fields.contains_key("last_error"),
        "{o}"
    );
}

const ENDPOINTS: [(&str, &str); 7] = [
    ("GET", "/api/tickets"),
    ("GET", "/api/tickets/1234567"),
    ("POST", "/api/tickets/1234567/replies"),
    ("POST", "/api/tickets/1234567/status"),
    ("GET", "/api/inbound"),
    ("GET", "/api/outbox"),
    ("GET", "/api/attachments/1"),
];

#[tokio::test]
async fn api_requires_an_agents_credentials() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = Server::start(&db).await;
        let request = |method: &str, path: &str| {
            let url = server.url(path);
            match method {
                "POST" => server
                    .client
                    .post(url)
                    .json(&json!({"body": "x", "status": "open"})),
                _ => server.client.get(url),
            }
        };
        for (method, path) in ENDPOINTS {
            let answer = Answer::of(request(method, path).send().await.expect("request")).await;
            answer.assert_error(StatusCode::UNAUTHORIZED);
            assert!(
                answer
                    .header("www-authenticate")
                    .is_some_and(|h| h.starts_with("Basic realm=\"peyk\"")),
                "{path}: {:?}",
                answer.headers
            );
        }
        let (email, password) = server.admin.clone();
        let wrong = Answer::of(
            server
                .client
                .get(server.url("/api/tickets"))
                .basic_auth(&email, Some("not the password"))
                .send()
                .await
                .expect("request"),
        )
        .await;
        wrong.assert_error(StatusCode::UNAUTHORIZED);
        let unknown = Answer::of(
            server
                .client
                .get(server.url("/api/tickets"))
                .basic_auth("nobody@peyk.example", Some(&password))
                .send()
                .await
                .expect("request"),
        )
        .await;
        unknown.assert_error(StatusCode::UNAUTHORIZED);
        let garbled = Answer::of(
            server
                .client
                .get(server.url("/api/tickets"))
                .header("Authorization", "Basic !!!")
                .send()
                .await
                .expect("request"),
        )
        .await;
        garbled.assert_error(StatusCode::UNAUTHORIZED);

        // Any agent, admin or not, with the email in any case.
        add_agent(
            &server.store,
            server.shared.as_ref(),
            "plain@peyk.example",
            "Plain Agent",
            "plain agent password",
            AgentRole::Agent,
        )
        .await
        .expect("agent");
        for (user, pass) in [
            (email.as_str(), password.as_str()),
            ("Plain@Peyk.Example", "plain agent password"),
        ] {
            let answer = Answer::of(
                server
                    .client
                    .get(server.url("/api/tickets"))
                    .basic_auth(user, Some(pass))
                    .send()
                    .await
                    .expect("request"),
            )
            .await;
            let body = answer.ok();
            assert_eq!(body["total"], 0);
            assert_eq!(body["tickets"], json!([]));
        }
        // Unknown API paths are JSON too, after authentication.
        Answer::of(
            server
                .client
                .get(server.url("/api/nothing"))
                .send()
                .await
                .expect("request"),
        )
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
        server
            .get("/api/nothing")
            .await
            .assert_error(StatusCode::NOT_FOUND);
        server.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn api_lists_and_shows_tickets_in_the_contract_shape() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = Server::start(&db).await;
        let now = || server.clock.now_utc();
        let mut made = Vec::new();
        for i in 0..5 {
            made.push(
                ingest(
                    &server.intake,
                    email_in(
                        &format!("Customer {i} <c{i}@example.com>"),
                        &format!("Problem {i}"),
                        "help",
                        Some("support"),
                        "",
                        now(),
                    ),
                )
                .await,
            );
            server.clock.advance(Duration::minutes(1));
        }
        let by_sms = ingest(&server.intake, sms("09121234567", "سلام، قطعی", now())).await;
        server.clock.advance(Duration::minutes(1));
        // A reply by the customer does not move the first ticket.
        ingest(
            &server.intake,
            email(
                "c0@example.com",
                &format!("Re: [#{}] Problem 0", made[0]),
                "again",
                now(),
            ),
        )
        .await;

        let body = server.get("/api/tickets").await.ok();
        assert_eq!(body["total"], 6);
        assert_eq!(body["total_is_capped"], false);
        let exact = server.get("/api/tickets?exact_total=true").await.ok();
        assert_eq!(
            (exact["total"].clone(), exact["total_is_capped"].clone()),
            (json!(6), json!(false))
        );
        let tickets = body["tickets"].as_array().expect("tickets");
        assert_eq!(tickets.len(), 6);
        for t in tickets {
            assert_ticket_shape(t);
        }
        let order: Vec<&str> = tickets
            .iter()
            .map(|t| t["number"].as_str().unwrap_or(""))
            .collect();
        let mut expected: Vec<&str> = made.iter().map(String::as_str).collect();
        expected.push(&by_sms);
        assert_eq!(order, expected, "longest waiting first");
        let first = &tickets[0];
        assert_eq!(first["subject"], "Problem 0");
        assert_eq!(first["status"], "open");
        assert_eq!(first["priority"], "normal");
        assert_eq!(first["department"], "support");
        assert_eq!(first["channel"], "email");
        assert_eq!(
            first["customer"],
            json!({"name": "Customer 0", "email": "c0@example.com", "phone": null})
        );
        assert_eq!(first["created_at"], "2026-11-30T08:00:00Z");
        let sms_ticket = &tickets[5];
        assert_eq!(sms_ticket["channel"], "sms");
        assert_eq!(sms_ticket["customer"]["phone"], "+989121234567");
        assert_eq!(sms_ticket["department"], Value::Null);

        // Paging.
        let page2 = server.get("/api/tickets?per_page=2&page=2").await.ok();
        assert_eq!(page2["total"], 6);
        let numbers: Vec<&str> = page2["tickets"]
            .as_array()
            .expect("tickets")
            .iter()
            .map(|t| t["number"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(numbers, [made[2].as_str(), made[3].as_str()]);
        let beyond = server.get("/api/tickets?per_page=2&page=4").await.ok();
        assert_eq!(beyond["total"], 6);
        assert_eq!(beyond["tickets"], json!([]));
        let clamped = server.get("/api/tickets?per_page=1000").await.ok();
        assert_eq!(clamped["per_page"], 200);
        assert_eq!(clamped["tickets"].as_array().map(Vec::len), Some(6));
        for bad in [
            "page=0",
            "page=x",
            "per_page=0",
            "per_page=-5",
            "status=bogus",
            "priority=later",
            "assignee=someone",
            "exact_total=maybe",
        ] {
            server
                .get(&format!("/api/tickets?{bad}"))
                .await
                .assert_error(StatusCode::BAD_REQUEST);
        }

        // Filters and search.
        let sms_number_fa = to_persian_digits(&by_sms);
        let found = server
            .get(&format!("/api/tickets?q={sms_number_fa}"))
            .await
            .ok();
        assert_eq!(found["total"], 1);
        assert_eq!(found["tickets"][0]["number"], by_sms.as_str());
        let found = server.get("/api/tickets?q=c3%40example.com").await.ok();
        assert_eq!(found["tickets"][0]["number"], made[3].as_str());
        let found = server.get("/api/tickets?q=09121234567").await.ok();
        assert_eq!(found["tickets"][0]["number"], by_sms.as_str());
        let found = server.get("/api/tickets?q=problem%204").await.ok();
        assert_eq!(found["total"], 1);
        assert_eq!(found["tickets"][0]["number"], made[4].as_str());
        let found = server.get("/api/tickets?department=support").await.ok();
        assert_eq!(found["total"], 5);
        let found = server.get("/api/tickets?department=nowhere").await.ok();
        assert_eq!(found["total"], 0);
        let found = server.get("/api/tickets?status=closed").await.ok();
        assert_eq!(found["total"], 0);
        let found = server.get("/api/tickets?status=waiting&status=").await.ok();
        assert_eq!(found["total"], 6, "an empty status means every status");

        // One ticket, with its messages oldest first.
        let one = server.get(&format!("/api/tickets/{}", made[0])).await.ok();
        assert_ticket_shape(&one);
        assert_eq!(one["number"], made[0].as_str());
        let messages = one["messages"].as_array().expect("messages");
        assert_eq!(messages.len(), 2);
        for m in messages {
            assert_message_shape(m);
            assert_eq!(m["direction"], "inbound");
            assert_eq!(m["channel"], "email");
        }
        assert_eq!(messages[0]["body_text"], "help");
        assert_eq!(messages[1]["body_text"], "again");
        assert!(messages[0]["id"].as_i64() < messages[1]["id"].as_i64());
        assert!(
            messages[0]["message_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("<m") && id.ends_with("@customer.example>"))
        );
        let same = server
            .get(&format!(
                "/api/tickets/{}",
                to_arabic_indic_digits(&made[0])
            ))
            .await
            .ok();
        assert_eq!(same["number"], made[0].as_str());
        let by_text = server.get(&format!("/api/tickets/{by_sms}")).await.ok();
        assert_eq!(by_text["messages"][0]["message_id"], Value::Null);
        assert_eq!(by_text["messages"][0]["channel"], "sms");
        assert_eq!(by_text["customer"]["phone"], "+989121234567");
        let missing = peyk::domain::ticket_number::TicketNumber::from_body([9, 9, 9, 9, 9, 1]);
        server
            .get(&format!("/api/tickets/{missing}"))
            .await
            .assert_error(StatusCode::NOT_FOUND);
        server
            .get("/api/tickets/not-a-number")
            .await
            .assert_error(StatusCode::NOT_FOUND);
        server.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn api_replies_notes_and_status_changes_go_through_the_outbox() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = Server::start(&db).await;
        let number = ingest(
            &server.intake,
            email(
                "Sara <sara@example.com>",
                "No connection",
                "help",
                server.clock.now_utc(),
            ),
        )
        .await;
        server.clock.advance(Duration::minutes(3));

        let answer = server
            .post(
                &format!("/api/tickets/{number}/replies"),
                json!({"body": "We are looking into it.", "internal": false}),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::CREATED,
            "{:?}",
            String::from_utf8_lossy(&answer.bytes)
        );
        let reply = answer.json();
        assert_message_shape(&reply);
        assert_eq!(reply["direction"], "outbound");
        assert_eq!(reply["channel"], "email");
        assert_eq!(reply["author"], "Administrator");
        assert_eq!(reply["body_text"], "We are looking into it.");
        assert_eq!(reply["created_at"], "2026-11-30T08:03:00Z");
        assert_eq!(reply["attachments"], json!([]));
        let reply_message_id = reply["message_id"]
            .as_str()
            .expect("message id")
            .to_string();

        let note = server
            .post(
                &format!("/api/tickets/{number}/replies"),
                json!({"body": "Line test scheduled", "internal": true}),
            )
            .await;
        assert_eq!(note.status, StatusCode::CREATED);
        let note = note.json();
        assert_eq!(note["direction"], "note");
        assert_eq!(note["message_id"], Value::Null);
        // "internal" may be left out.
        let plain = server
            .post(
                &format!("/api/tickets/{number}/replies"),
                json!({"body": "And one more thing."}),
            )
            .await;
        assert_eq!(plain.status, StatusCode::CREATED);
        assert_eq!(plain.json()["direction"], "outbound");

        let ticket = server.get(&format!("/api/tickets/{number}")).await.ok();
        assert_eq!(ticket["status"], "answered");
        let directions: Vec<&str> = ticket["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["direction"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(directions, ["inbound", "outbound", "note", "outbound"]);

        server.drain_outbox().await;
        let outbox = server.get("/api/outbox").await.ok();
        assert_eq!(
            outbox["total"], 3,
            "acknowledgement and two replies, no note"
        );
        let items = outbox["items"].as_array().expect("items");
        for item in items {
            assert_outbox_shape(item);
            assert_eq!(item["ticket_number"], number.as_str());
            assert_eq!(item["recipient"], "sara@example.com");
            assert_eq!(item["status"], "sent");
        }
        let kinds: Vec<&str> = items
            .iter()
            .map(|i| i["kind"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(kinds, ["agent_reply", "agent_reply", "ticket_received"]);
        assert_eq!(items[1]["message_id"], reply_message_id.as_str());

        // Bad replies.
        server
            .post(
                &format!("/api/tickets/{number}/replies"),
                json!({"body": "  "}),
            )
            .await
            .assert_error(StatusCode::BAD_REQUEST);
        server
            .post(
                &format!("/api/tickets/{number}/replies"),
                json!({"text": "hi"}),
            )
            .await
            .assert_error(StatusCode::BAD_REQUEST);
        server
            .post(
                &format!("/api/tickets/{number}/replies"),
                json!({"body": "x", "internal": "yes"}),
            )
            .await
            .assert_error(StatusCode::BAD_REQUEST);
        let (email, password) = &server.admin;
        let not_json = Answer::of(
            server
                .client
                .post(server.url(&format!("/api/tickets/{number}/replies")))
                .basic_auth(email, Some(password))
                .header("content-type", "application/json")
                .body("{\"body\": ")
                .send()
                .await
                .expect("request"),
        )
        .await;
        not_json.assert_error(StatusCode::BAD_REQUEST);
        let form = Answer::of(
            server
                .client
                .post(server.url(&format!("/api/tickets/{number}/replies")))
                .basic_auth(email, Some(password))
                .form(&[("body", "hi")])
                .send()
                .await
                .expect("request"),
        )
        .await;
        form.assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        server
            .post("/api/tickets/1234567/replies", json!({"body": "hello"}))
            .await
            .assert_error(StatusCode::NOT_FOUND);
        server
            .get(&format!("/api/tickets/{number}/replies"))
            .await
            .assert_error(StatusCode::METHOD_NOT_ALLOWED);

        // Status: in progress (no notification), then closed (the customer is told).
        server.clock.advance(Duration::minutes(1));
        let changed = server
            .post(
                &format!("/api/tickets/{number}/status"),
                json!({"status": "in_progress"}),
            )
            .await
            .ok();
        assert_ticket_shape(&changed);
        assert_eq!(changed["status"], "in_progress");
        assert_eq!(changed["updated_at"], "2026-11-30T08:04:00Z");
        let closed = server
            .post(
                &format!("/api/tickets/{}/status", to_persian_digits(&number)),
                json!({"status": "closed"}),
            )
            .await
            .ok();
        assert_eq!(closed["status"], "closed");
        assert_eq!(closed["number"], number.as_str());
        server.drain_outbox().await;
        let outbox = server.get("/api/outbox").await.ok();
        assert_eq!(outbox["total"], 4);
        assert_eq!(outbox["items"][0]["kind"], "ticket_closed");
        assert_eq!(outbox["items"][0]["ticket_number"], number.as_str());
        assert_eq!(outbox["items"][0]["recipient"], "sara@example.com");
        assert!(
            outbox["items"][0]["message_id"]
                .as_str()
                .is_some_and(|id| id.starts_with('<') && id.ends_with('>'))
        );
        // Closing again changes nothing and tells nobody twice.
        let again = server
            .post(
                &format!("/api/tickets/{number}/status"),
                json!({"status": "closed"}),
            )
            .await
            .ok();
        assert_eq!(again["status"], "closed");
        assert_eq!(server.get("/api/outbox").await.ok()["total"], 4);
        let ticket = server.get(&format!("/api/tickets/{number}")).await.ok();
        let events: Vec<(&str, &str)> = ticket["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["kind"] == "status")
            .map(|e| {
                (
                    e["new_value"].as_str().unwrap_or(""),
                    e["actor"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            events,
            [
                ("answered", "agent"),
                ("in_progress", "agent"),
                ("closed", "agent")
            ]
        );
        // Reopening by an agent puts it back in the waiting queue.
        let reopened = server
            .post(
                &format!("/api/tickets/{number}/status"),
                json!({"status": "open"}),
            )
            .await
            .ok();
        assert_eq!(reopened["status"], "open");
        let waiting = server.get("/api/tickets?status=waiting").await.ok();
        assert_eq!(waiting["total"], 1);

        for bad in [json!({"status": "done"}), json!({}), json!({"status": 3})] {
            server
                .post(&format!("/api/tickets/{number}/status"), bad)
                .await
                .assert_error(StatusCode::BAD_REQUEST);
        }
        server
            .post("/api/tickets/1234567/status", json!({"status": "closed"}))
            .await
            .assert_error(StatusCode::NOT_FOUND);
        server.stop().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn api_lists_receipts_and_outbox_and_serves_attachments() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = Server::start(&db).await;
        let now = || server.clock.now_utc();
        let number = ingest(
            &server.intake,
            email_with_attachments("Sara <sara@example.com>", "Invoice", now()),
        )
        .await;
        server.clock.advance(Duration::minutes(1));
        let ignored = server
            .intake
            .ingest(email_in(
                "robot@example.com",
                "Automatic reply",
                "away",
                None,
                "Auto-Submitted: auto-replied\r\n",
                now(),
            ))
            .await
            .expect("ingest");
        assert_eq!(ignored.outcome, IntakeOutcome::Ignored);
        server.clock.advance(Duration::minutes(1));
        let by_sms = ingest(&server.intake, sms("+989121234567", "help", now())).await;

        // Receipts, newest first.
        let body = server.get("/api/inbound").await.ok();
        assert_eq!(body["total"], 3);
        let receipts = body["receipts"].as_array().expect("receipts");
        for r in receipts {
            for key in [
                "source",
                "external_id",
                "outcome",
                "reason",
                "ticket_number",
                "received_at",
                "bounced_recipient",
                "bounce_status",
            ] {
                assert!(
                    r.as_object().is_some_and(|o| o.contains_key(key)),
                    "{key} in {r}"
                );
            }
            assert!(is_rfc3339(&r["received_at"]), "{r}");
        }
        assert_eq!(receipts[0]["source"], "sms:test");
        assert_eq!(receipts[0]["outcome"], "new_ticket");
        assert_eq!(receipts[0]["ticket_number"], by_sms.as_str());
        assert_eq!(receipts[1]["outcome"], "ignored");
        assert_eq!(receipts[1]["reason"], "autoreply");
        assert_eq!(receipts[1]["ticket_number"], Value::Null);
        assert_eq!(receipts[2]["source"], "import");
        assert_eq!(receipts[2]["ticket_number"], number.as_str());
        assert_eq!(receipts[2]["received_at"], "2026-11-30T08:00:00Z");
        let external = receipts[2]["external_id"].as_str().expect("external id");
        assert!(
            external.starts_with("att") && !external.contains('<'),
            "{external}"
        );
        let only = server.get("/api/inbound?outcome=ignored").await.ok();
        assert_eq!(only["total"], 1);
        assert_eq!(only["receipts"][0]["outcome"], "ignored");
        let paged = server.get("/api/inbound?per_page=2&page=2").await.ok();
        assert_eq!(paged["total"], 3);
        assert_eq!(paged["receipts"].as_array().map(Vec::len), Some(1));
        assert_eq!(paged["receipts"][0]["ticket_number"], number.as_str());
        server
            .get("/api/inbound?outcome=lost")
            .await
            .assert_error(StatusCode::BAD_REQUEST);
        server
            .get("/api/inbound?page=zero")
            .await
            .assert_error(StatusCode::BAD_REQUEST);

        // The outbox, by status.
        server.drain_outbox().await;
        let sent = server.get("/api/outbox?status=sent").await.ok();
        assert_eq!(sent["total"], 2);
        let items = sent["items"].as_array().expect("items");
        for item in items {
            assert_outbox_shape(item);
            assert_eq!(item["kind"], "ticket_received");
            assert_eq!(item["attempts"], 1);
            assert_eq!(item["last_error"], Value::Null);
        }
        assert_eq!(items[0]["channel"], "sms");
        assert_eq!(items[0]["recipient"], "+989121234567");
        assert_eq!(items[0]["ticket_number"], by_sms.as_str());
        assert_eq!(items[0]["message_id"], Value::Null);
        assert_eq!(items[1]["channel"], "email");
        assert!(
            items[1]["message_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("<peyk.") && id.ends_with("@peyk.example>"))
        );
        let pending = server.get("/api/outbox?status=pending").await.ok();
        assert_eq!(
            (pending["total"].clone(), pending["items"].clone()),
            (json!(0), json!([]))
        );
        let paged = server.get("/api/outbox?per_page=1&page=2").await.ok();
        assert_eq!(paged["total"], 2);
        assert_eq!(paged["items"][0]["ticket_number"], number.as_str());
        server
            .get("/api/outbox?status=queued")
            .await
            .assert_error(StatusCode::BAD_REQUEST);

        // Attachments: metadata in the message, bytes as a download.
        let ticket = server.get(&format!("/api/tickets/{number}")).await.ok();
        let attachments = ticket["messages"][0]["attachments"]
            .as_array()
            .expect("attachments")
            .clone();
        assert_eq!(attachments.len(), 2);
        let pdf = &attachments[0];
        assert_eq!(pdf["filename"], "فاکتور \"1\".pdf");
        assert_eq!(pdf["content_type"], "application/pdf");
        assert_eq!(pdf["size"], 13);
        assert_eq!(pdf["refused"], false);
        assert_eq!(pdf["refused_reason"], Value::Null);
        assert!(
            pdf["sha256"]
                .as_str()
                .is_some_and(|h| h.trim_start_matches("sha256:").len() == 64)
        );
        let big = &attachments[1];
        assert_eq!(big["refused"], true);
        assert!(
            big["refused_reason"]
                .as_str()
                .is_some_and(|r| !r.is_empty())
        );

        let download = server.get(&format!("/api/attachments/{}", pdf["id"])).await;
        assert_eq!(download.status, StatusCode::OK);
        assert_eq!(download.bytes, b"%PDF-1.4 tiny");
        assert_eq!(download.header("content-type"), Some("application/pdf"));
        assert_eq!(download.header("x-content-type-options"), Some("nosniff"));
        let disposition = download.header("content-disposition").expect("disposition");
        assert!(disposition.starts_with("attachment;"), "{disposition}");
        assert!(
            disposition
                .contains("filename*=UTF-8''%D9%81%D8%A7%DA%A9%D8%AA%D9%88%D8%B1%20%221%22.pdf"),
            "{disposition}"
        );
        assert!(
            !disposition.contains("\"1\""),
            "quotes are not left raw: {disposition}"
        );
        server
            .get(&format!("/api/attachments/{}", big["id"]))
            .await
            .assert_error(StatusCode::GONE);
        server
            .get("/api/attachments/999999")
            .await
            .assert_error(StatusCode::NOT_FOUND);
        server
            .get("/api/attachments/abc")
            .await
            .assert_error(StatusCode::BAD_REQUEST);
        server.stop().await;
        db.cleanup().await;
    }
}
