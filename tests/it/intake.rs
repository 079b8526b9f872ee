//! Intake through the library: idempotency, status changes, queue order, SMS threading,
//! durability settings.

use chrono::{DateTime, Duration, Utc};
use peyk::domain::contact::{EmailAddress, PhoneNumber};
use peyk::domain::digits::to_persian_digits;
use peyk::domain::message::{AutomationSignals, InboundMessage, Sender};
use peyk::domain::ticket::{Channel, TicketStatus};
use peyk::inbound::email::parse_email;
use peyk::intake::{InboundItem, Intake, IntakeOutcome};
use peyk::store::{self, Store};

use crate::harness::{TestDb, backends, settable_clock};

fn email(
    from: &str,
    message_id: &str,
    subject: &str,
    body: &str,
    now: DateTime<Utc>,
) -> InboundItem {
    let raw = format!(
        "From: {from}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    );
    InboundItem::Parsed(Box::new(
        parse_email(raw.as_bytes(), "import", None, 1024 * 1024, now)
            .result
            .expect("parses"),
    ))
}

fn sms(id: &str, from: &str, text: &str, now: DateTime<Utc>) -> InboundItem {
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
            hex::encode(sha2::Sha256::digest(text.as_bytes()))
        ),
        received_at: now,
        department: None,
    }))
}

async fn ticket(store: &Store, number: &str) -> store::tickets::Ticket {
    store::tickets::find_by_number(store.db(), number)
        .await
        .expect("db")
        .expect("ticket")
}

#[tokio::test]
async fn the_same_item_twice_stores_nothing_and_returns_the_first_outcome() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let (clock, shared) = settable_clock("2026-11-30T08:00:00Z");
        let (store, intake) = db.intake(shared).await;
        let first = intake
            .ingest(email(
                "a@example.com",
                "m1@x",
                "Help",
                "first body",
                clock.now_utc(),
            ))
            .await
            .expect("ingest");
        assert_eq!(first.outcome, IntakeOutcome::NewTicket);
        assert!(!first.duplicate);
        let again = intake
            .ingest(email(
                "a@example.com",
                "m1@x",
                "Help",
                "first body",
                clock.now_utc(),
            ))
            .await
            .expect("ingest");
        assert_eq!(again.outcome, IntakeOutcome::NewTicket);
        assert_eq!(again.ticket_number, first.ticket_number);
        assert!(again.duplicate);
        // Within one batch too.
        let batch = intake
            .ingest_batch(vec![
                email("b@example.com", "m2@x", "Other", "second", clock.now_utc()),
                email("b@example.com", "m2@x", "Other", "second", clock.now_utc()),
            ])
            .await
            .expect("batch");
        assert!(!batch[0].duplicate && batch[1].duplicate);
        assert_eq!(
            store::tickets::count_tickets(store.db())
                .await
                .expect("count"),
            2
        );
        let (_, outbox) = store::outbox::list(store.db(), None, 1, 10)
            .await
            .expect("outbox");
        assert_eq!(
            outbox, 2,
            "one acknowledgement per ticket, none for duplicates"
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_reused_message_id_with_other_content_is_kept_as_its_own_item() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let (clock, shared) = settable_clock("2026-11-30T08:00:00Z");
        let (store, intake) = db.intake(shared).await;
        intake
            .ingest(email(
                "a@example.com",
                "same@x",
                "One",
                "first text",
                clock.now_utc(),
            ))
            .await
            .expect("ingest");
        let second = intake
            .ingest(email(
                "c@example.com",
                "same@x",
                "Two",
                "another text",
                clock.now_utc(),
            ))
            .await
            .expect("ingest");
        assert_eq!(second.outcome, IntakeOutcome::NewTicket);
        assert!(!second.duplicate);
        assert!(
            second
                .reason
                .as_deref()
                .unwrap_or("")
                .contains("already used"),
            "{second:?}"
        );
        assert_eq!(
            store::tickets::count_tickets(store.db())
                .await
                .expect("count"),
            2
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_customer_reply_reopens_an_answered_ticket_and_a_bump_keeps_its_place_in_the_queue() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let (clock, shared) = settable_clock("2026-11-30T08:00:00Z");
        let (store, intake) = db.intake(shared).await;
        let created = intake
            .ingest(email(
                "a@example.com",
                "q1@x",
                "Slow line",
                "slow",
                clock.now_utc(),
            ))
            .await
            .expect("ingest");
        let number = created.ticket_number.expect("number");
        let waiting_since = ticket(&store, &number).await.waiting_since;
        assert_eq!(waiting_since, Some(clock.now_utc()));

        // A bump an hour later: still open, same place in the queue.
        clock.advance(Duration::hours(1));
        let bump = intake
            .ingest(email(
                "a@example.com",
                "q2@x",
                &format!("Re: [#{number}] Slow line"),
                "any news?",
                clock.now_utc(),
            ))
            .await
            .expect("ingest");
        assert_eq!(bump.outcome, IntakeOutcome::Reply);
        let t = ticket(&store, &number).await;
        assert_eq!(t.status, "open");
        assert_eq!(
            t.waiting_since, waiting_since,
            "a bump does not move the ticket up the queue"
        );

        // Answered, then the customer writes again: open, and waiting from now.
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
        assert_eq!(ticket(&store, &number).await.waiting_since, None);
        clock.advance(Duration::hours(2));
        intake
            .ingest(email(
                "a@example.com",
                "q3@x",
                &format!("Re: [#{number}] Slow line"),
                "still slow",
                clock.now_utc(),
            ))
            .await
            .expect("ingest");
        let t = ticket(&store, &number).await;
        assert_eq!(t.status, "open");
        assert_eq!(t.waiting_since, Some(clock.now_utc()));
        db.cleanup().await;
    }
}

#[tokio::test]
async fn sms_threads_by_a_number_in_persian_digits_or_by_the_recent_ticket() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let (clock, shared) = settable_clock("2026-11-30T08:00:00Z");
        let (store, intake): (Store, Intake) = db.intake(shared).await;
        let first = intake
            .ingest(sms(
                "p1",
                "09121234567",
                "اینترنت من قطع است",
                clock.now_utc(),
            ))
            .await
            .expect("ingest");
        assert_eq!(first.outcome, IntakeOutcome::NewTicket);
        let number = first.ticket_number.expect("number");
        let t = ticket(&store, &number).await;
        assert_eq!(t.subject, "اینترنت من قطع است");

        let by_number = intake
            .ingest(sms(
                "p2",
                "+989121234567",
                &format!("{} هنوز قطع است", to_persian_digits(&number)),
                clock.now_utc(),
            ))
            .await
            .expect("ingest");
        assert_eq!(
            (by_number.outcome, by_number.ticket_number.as_deref()),
            (IntakeOutcome::Reply, Some(number.as_str()))
        );

        clock.advance(Duration::days(3));
        let recent = intake
            .ingest(sms(
                "p3",
                "00989121234567",
                "درست شد، ممنون",
                clock.now_utc(),
            ))
            .await
            .expect("ingest");
        assert_eq!(
            (recent.outcome, recent.ticket_number.as_deref()),
            (IntakeOutcome::Reply, Some(number.as_str()))
        );

        // Another phone naming this ticket gets its own ticket.
        let other = intake
            .ingest(sms(
                "p4",
                "09351112233",
                &format!("{number} hello"),
                clock.now_utc(),
            ))
            .await
            .expect("ingest");
        assert_eq!(other.outcome, IntakeOutcome::NewTicket);
        assert_ne!(other.ticket_number.as_deref(), Some(number.as_str()));

        // After the window, a new ticket.
        clock.advance(Duration::days(8));
        let late = intake
            .ingest(sms("p5", "09121234567", "new problem", clock.now_utc()))
            .await
            .expect("ingest");
        assert_eq!(late.outcome, IntakeOutcome::NewTicket);

        let customer = store::tickets::find_customer(
            store.db(),
            None,
            Some(&PhoneNumber::parse("09121234567", "IR").expect("phone")),
        )
        .await
        .expect("db")
        .expect("one customer for all four formats");
        assert_eq!(customer.phone.as_deref(), Some("+989121234567"));
        assert_eq!(customer.language.as_deref(), Some("fa"));
        let (items, _) = store::outbox::list(store.db(), None, 1, 10)
            .await
            .expect("outbox");
        assert!(items.iter().all(|i| i.channel == "sms"));
        db.cleanup().await;
    }
}

#[tokio::test]
async fn auto_replies_lists_own_addresses_and_bounces_get_receipts_and_no_ticket() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let (clock, shared) = settable_clock("2026-11-30T08:00:00Z");
        let (store, intake) = db.intake(shared).await;
        let now = clock.now_utc();
        let parse = |raw: &str| {
            InboundItem::Parsed(Box::new(
                parse_email(raw.as_bytes(), "import", None, 1 << 20, now)
                    .result
                    .expect("parses"),
            ))
        };
        let auto = parse(
            "From: a@example.com\r\nSubject: Automatic reply: hello\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <ar@x>\r\n\r\nI am away.\r\n",
        );
        let list = parse(
            "From: l@example.com\r\nSubject: [dev] news\r\nList-Id: <dev.example.com>\r\nMessage-ID: <li@x>\r\n\r\nnews\r\n",
        );
        let own = parse(
            "From: No-Reply@Peyk.Example\r\nSubject: [#1234567] ticket received\r\nMessage-ID: <own@x>\r\n\r\nloop\r\n",
        );
        let bounce = parse(
            "From: MAILER-DAEMON@mx.example.com\r\nSubject: Undelivered Mail\r\nMessage-ID: <b@x>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"R\"\r\n\r\n--R\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--R\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient: rfc822; gone@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n--R--\r\n",
        );
        let results = intake
            .ingest_batch(vec![auto, list, own, bounce])
            .await
            .expect("batch");
        let summary: Vec<(IntakeOutcome, Option<&str>)> = results
            .iter()
            .map(|r| (r.outcome, r.reason.as_deref()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (IntakeOutcome::Ignored, Some("autoreply")),
                (IntakeOutcome::Ignored, Some("list")),
                (IntakeOutcome::Ignored, Some("own_address")),
                (IntakeOutcome::Bounce, None),
            ]
        );
        assert_eq!(
            store::tickets::count_tickets(store.db())
                .await
                .expect("count"),
            0
        );
        let (bounces, _) = store::inbound::list_receipts(store.db(), Some("bounce"), 1, 10)
            .await
            .expect("receipts");
        assert_eq!(
            bounces[0].bounced_recipient.as_deref(),
            Some("gone@example.com")
        );
        assert_eq!(bounces[0].bounce_status.as_deref(), Some("5.1.1"));
        let (_, outbox) = store::outbox::list(store.db(), None, 1, 10)
            .await
            .expect("outbox");
        assert_eq!(outbox, 0);
        let _ = EmailAddress::parse("x@y.z");
        db.cleanup().await;
    }
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode_with_synchronous_full() {
    let db = TestDb::create(crate::harness::Backend::Sqlite).await;
    let store = db.store().await;
    assert_eq!(
        store.sqlite_pragmas().await,
        Some(("wal".to_string(), 2)),
        "journal_mode=wal, synchronous=FULL (2)"
    );
    db.cleanup().await;
}

#[tokio::test]
async fn over_the_new_ticket_limit_messages_join_the_newest_ticket_without_acknowledgement() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let (clock, shared) = settable_clock("2026-11-30T08:00:00Z");
        let store = db.store().await;
        let mut rules = peyk::intake::IntakeRules::from_settings(&db.settings());
        rules.new_tickets_per_sender_per_hour = 2;
        let intake = Intake::new(store.clone(), rules, shared);
        let mut results = Vec::new();
        for n in 0..4 {
            let item = email(
                "flood@example.com",
                &format!("f{n}@x"),
                &format!("Topic {n}"),
                "help",
                clock.now_utc(),
            );
            results.push(intake.ingest(item).await.expect("ingest"));
        }
        let outcomes: Vec<IntakeOutcome> = results.iter().map(|r| r.outcome).collect();
        assert_eq!(
            outcomes,
            vec![
                IntakeOutcome::NewTicket,
                IntakeOutcome::NewTicket,
                IntakeOutcome::Reply,
                IntakeOutcome::Reply
            ]
        );
        assert!(
            results[2]
                .reason
                .as_deref()
                .unwrap_or("")
                .starts_with("held: over 2 new tickets per hour"),
            "{:?}",
            results[2]
        );
        assert_eq!(
            results[2].ticket_number, results[1].ticket_number,
            "into the newest ticket"
        );
        assert_eq!(
            store::tickets::count_tickets(store.db())
                .await
                .expect("count"),
            2
        );
        let (_, acknowledgements) = store::outbox::list(store.db(), None, 1, 10)
            .await
            .expect("outbox");
        assert_eq!(acknowledgements, 2, "no acknowledgement beyond the limit");
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_bounce_of_an_acknowledgement_marks_the_notification_and_the_address() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let (clock, shared) = settable_clock("2026-11-30T08:00:00Z");
        let (store, intake) = db.intake(shared).await;
        intake
            .ingest(email(
                "gone@example.com",
                "b1@x",
                "Help",
                "please",
                clock.now_utc(),
            ))
            .await
            .expect("ingest");
        let (items, _) = store::outbox::list(store.db(), None, 1, 10)
            .await
            .expect("outbox");
        let ack_id = items[0].message_id.clone().expect("message id");
        let bounce = format!(
            "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\nTo: no-reply@peyk.example\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-1@mx.example.com>\r\nAuto-Submitted: auto-replied\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nThe mail system could not deliver your message.\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient: rfc822; gone@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: Support <no-reply@peyk.example>\r\nTo: gone@example.com\r\nSubject: [#1234567] Help\r\nMessage-ID: {ack_id}\r\n\r\n--B--\r\n"
        );
        let parsed = parse_email(bounce.as_bytes(), "import", None, 1 << 20, clock.now_utc())
            .result
            .expect("parses");
        let result = intake
            .ingest(InboundItem::Parsed(Box::new(parsed)))
            .await
            .expect("ingest");
        assert_eq!(result.outcome, IntakeOutcome::Bounce);
        let (items, _) = store::outbox::list(store.db(), None, 1, 10)
            .await
            .expect("outbox");
        assert_eq!(items[0].status, "failed");
        assert!(
            items[0]
                .last_error
                .as_deref()
                .unwrap_or("")
                .contains("5.1.1"),
            "{:?}",
            items[0].last_error
        );
        let customer = store::tickets::find_customer(
            store.db(),
            Some(&EmailAddress::parse("gone@example.com").expect("email")),
            None,
        )
        .await
        .expect("db")
        .expect("customer");
        assert!(customer.email_bounced_at.is_some());
        // The next new ticket of that customer gets no acknowledgement by email.
        intake
            .ingest(email(
                "gone@example.com",
                "b2@x",
                "Other",
                "again",
                clock.now_utc(),
            ))
            .await
            .expect("ingest");
        assert_eq!(
            store::outbox::list(store.db(), None, 1, 10)
                .await
                .expect("outbox")
                .1,
            1
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_dead_letter_is_run_again_and_its_receipt_replaced() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let (clock, shared) = settable_clock("2026-11-30T08:00:00Z");
        let (store, intake) = db.intake(shared.clone()).await;
        // As an earlier version left it: an error receipt holding a message it could not store.
        let raw = b"From: Late <late@example.com>\r\nSubject: Stuck\r\nMessage-ID: <dead-1@x>\r\n\r\nThis was stuck.\r\n";
        store::inbound::insert_receipt(
            store.db(),
            store::inbound::NewReceipt {
                source: "import",
                external_id: "dead-1@x",
                channel: "email",
                outcome: "error",
                reason: Some("could not be stored: database was down".into()),
                ticket_id: None,
                message_id: None,
                sender: None,
                subject: None,
                content_hash: "sha256:x",
                fingerprint: None,
                bounced_recipient: None,
                bounce_status: None,
                raw_source: Some(raw.to_vec()),
                received_at: clock.now_utc(),
            },
        )
        .await
        .expect("receipt");
        // And one that still cannot become a ticket.
        intake
            .ingest(email("x@y.z", "ok@x", "fine", "fine", clock.now_utc()))
            .await
            .expect("ingest");
        let no_sender = parse_email(
            b"Subject: nobody\r\nMessage-ID: <dead-2@x>\r\n\r\ntext\r\n",
            "import",
            None,
            1 << 20,
            clock.now_utc(),
        );
        intake
            .ingest(InboundItem::Parsed(Box::new(
                no_sender.result.expect("parses"),
            )))
            .await
            .expect("ingest");

        let retried =
            peyk::service::inbound::retry_dead_letters(&intake, shared.as_ref(), |_| None, 1 << 20)
                .await
                .expect("retry");
        let outcomes: Vec<(&str, IntakeOutcome)> = retried
            .iter()
            .map(|r| (r.external_id.as_str(), r.result.outcome))
            .collect();
        assert_eq!(
            outcomes,
            vec![
                ("dead-1@x", IntakeOutcome::NewTicket),
                ("dead-2@x", IntakeOutcome::Error)
            ]
        );
        let (receipts, total) = store::inbound::list_receipts(store.db(), None, 1, 10)
            .await
            .expect("receipts");
        assert_eq!(
            total, 3,
            "one receipt per item, replaced not added: {receipts:?}"
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_reply_is_stored_without_the_quoted_mail_which_stays_available() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let (clock, shared) = settable_clock("2026-11-30T08:00:00Z");
        let (store, intake) = db.intake(shared).await;
        let created = intake
            .ingest(email(
                "q@example.com",
                "s1@x",
                "Router",
                "My router restarts.",
                clock.now_utc(),
            ))
            .await
            .expect("ingest");
        let number = created.ticket_number.expect("number");
        let body = "It happened again tonight.\r\n\r\nOn Mon, 30 Nov 2026 at 10:00, Support <no-reply@peyk.example> wrote:\r\n> We have received your request.\r\n> Ticket 1234567\r\n";
        let reply = intake
            .ingest(email(
                "q@example.com",
                "s2@x",
                &format!("Re: [#{number}] Router"),
                body,
                clock.now_utc(),
            ))
            .await
            .expect("ingest");
        assert_eq!(reply.outcome, IntakeOutcome::Reply);
        let t = ticket(&store, &number).await;
        let messages = store::tickets::messages_of_ticket(store.db(), t.id)
            .await
            .expect("messages");
        assert_eq!(messages[1].body_text, "It happened again tonight.");
        assert!(
            messages[1]
                .quoted_text
                .as_deref()
                .unwrap_or("")
                .contains("We have received your request.")
        );
        // The new ticket's first message is kept whole.
        assert_eq!(messages[0].quoted_text, None);
        db.cleanup().await;
    }
}

/// What a test SMS says, resolved per database (ticket numbers differ between databases).
#[derive(Debug, Clone)]
enum SmsText {
    Plain(String),
    Blank,
    /// The number of the n-th ticket (by id), in ASCII or Persian digits, before a text.
    Names(usize, bool, String),
    /// The n-th ticket's number with a wrong check digit.
    Mistyped(usize),
    /// A valid number no ticket has.
    Unknown,
}

fn resolve(text: &SmsText, numbers: &[String]) -> String {
    let numbered = |n: &usize| numbers.get(*n % numbers.len().max(1)).cloned();
    match text {
        SmsText::Plain(text) => text.clone(),
        SmsText::Blank => " \u{200c} ".into(),
        SmsText::Names(n, persian, rest) => match numbered(n) {
            Some(number) if *persian => format!("{} {rest}", to_persian_digits(&number)),
            Some(number) => format!("#{number} {rest}"),
            None => rest.clone(),
        },
        SmsText::Mistyped(n) => match numbered(n) {
            Some(number) => format!(
                "{} still down",
                peyk::domain::ticket_number::TicketNumber::parse(&number)
                    .expect("stored number")
                    .mistyped()
            ),
            None => "still down".into(),
        },
        SmsText::Unknown => {
            let unknown = peyk::domain::ticket_number::TicketNumber::from_body([9, 8, 9, 8, 9, 8]);
            format!("{unknown} where is my answer")
        }
    }
}

/// Everything intake stored, with ids and ticket numbers replaced by their rank, so two
/// databases fed the same messages compare equal.
async fn normalized_dump(store: &Store) -> Vec<String> {
    use peyk::store::entities::{
        customer, inbound_receipt, message, outbox_item, ticket, ticket_event,
    };
    use sea_orm::{EntityTrait, QueryOrder};
    let db = store.db();
    let tickets = ticket::Entity::find()
        .order_by_asc(ticket::Column::Id)
        .all(db)
        .await
        .expect("tickets");
    let customers = customer::Entity::find()
        .order_by_asc(customer::Column::Id)
        .all(db)
        .await
        .expect("customers");
    let messages = message::Entity::find()
        .order_by_asc(message::Column::Id)
        .all(db)
        .await
        .expect("messages");
    let rank_of = |id: i64| tickets.iter().position(|t| t.id == id);
    let customer_of = |id: i64| customers.iter().position(|c| c.id == id);
    let message_rank = |id: i64| messages.iter().position(|m| m.id == id);
    let numbers: Vec<String> = tickets.iter().map(|t| t.number.clone()).collect();
    let plain = |text: &str| {
        let mut text = text.to_string();
        for (rank, number) in numbers.iter().enumerate() {
            let mistyped = peyk::domain::ticket_number::TicketNumber::parse(number)
                .map(|n| n.mistyped())
                .unwrap_or_default();
            text = text
                .replace(number, &format!("<T{rank}>"))
                .replace(&to_persian_digits(number), &format!("<T{rank}>"))
                .replace(&mistyped, &format!("<M{rank}>"));
        }
        text
    };
    let mut dump = Vec::new();
    for c in &customers {
        dump.push(format!(
            "customer {:?} {:?} {:?}",
            c.phone, c.language, c.name
        ));
    }
    for t in &tickets {
        dump.push(format!(
            "ticket {:?} {} {} {} customer {:?} follows {:?} {:?} waiting {:?} closed {:?} at {} {}",
            plain(&t.subject),
            t.status,
            t.priority,
            t.channel,
            customer_of(t.customer_id),
            t.follows_ticket_id.map(rank_of),
            t.noted_reference.as_deref().map(plain),
            t.waiting_since,
            t.closed_at,
            t.created_at,
            t.updated_at
        ));
    }
    for m in &messages {
        dump.push(format!(
            "message ticket {:?} {} {} {:?} {:?} {:?} at {}",
            rank_of(m.ticket_id),
            m.direction,
            m.channel,
            m.author,
            plain(&m.body_text),
            m.provider_message_id,
            m.created_at
        ));
    }
    for r in inbound_receipt::Entity::find()
        .order_by_asc(inbound_receipt::Column::Id)
        .all(db)
        .await
        .expect("receipts")
    {
        dump.push(format!(
            // (Content hashes and fingerprints hash texts with ticket numbers in them.)
            "receipt {} {} {} {} {:?} ticket {:?} message {:?} {:?} {:?} {} {} raw {:?} at {}",
            r.source,
            if r.external_id.starts_with("sha256:") {
                "sha256:(rekeyed)"
            } else {
                &r.external_id
            },
            r.channel,
            r.outcome,
            r.reason.as_deref().map(plain),
            r.ticket_id.map(rank_of),
            r.message_id.map(message_rank),
            r.sender,
            r.subject,
            r.content_hash.starts_with("sha256:"),
            r.fingerprint.is_some(),
            r.raw_source
                .map(|raw| plain(&String::from_utf8_lossy(&raw))),
            r.received_at
        ));
    }
    for e in ticket_event::Entity::find()
        .order_by_asc(ticket_event::Column::Id)
        .all(db)
        .await
        .expect("events")
    {
        let linked = e.kind == "linked";
        dump.push(format!(
            "event ticket {:?} {} {:?} {:?} {} at {}",
            rank_of(e.ticket_id),
            e.kind,
            e.old_value,
            e.new_value.map(|v| if linked {
                format!("{:?}", v.parse().ok().map(rank_of))
            } else {
                v
            }),
            e.actor,
            e.created_at
        ));
    }
    for o in outbox_item::Entity::find()
        .order_by_asc(outbox_item::Column::Id)
        .all(db)
        .await
        .expect("outbox")
    {
        dump.push(format!(
            "outbox ticket {:?} {} {} {} {} {:?} {:?} {} at {}",
            rank_of(o.ticket_id),
            o.channel,
            o.kind,
            o.recipient,
            o.language,
            o.subject.as_deref().map(plain),
            plain(&o.body_text),
            o.status,
            o.created_at
        ));
    }
    dump
}

async fn ticket_numbers(store: &Store) -> Vec<String> {
    use peyk::store::entities::ticket;
    use sea_orm::{EntityTrait, QueryOrder};
    ticket::Entity::find()
        .order_by_asc(ticket::Column::Id)
        .all(store.db())
        .await
        .expect("tickets")
        .into_iter()
        .map(|t| t.number)
        .collect()
}

/// Plain SMS in one batch take a set-at-a-time path; it must store exactly what intake stores
/// taking the same messages one after the other: new phones, replies by number (ASCII and
/// Persian digits, own and someone else's, mistyped, unknown), by the recent ticket, after the
/// reply window, into closed and answered tickets, blank texts, provider ids repeated (stored
/// before, and twice in one batch) or reused for another text, and the flood guard.
#[tokio::test]
async fn sms_batches_store_exactly_what_item_by_item_intake_stores() {
    use peyk::intake::IntakeRules;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    for backend in backends() {
        let batched_db = TestDb::create(backend).await;
        let reference_db = TestDb::create(backend).await;
        let (clock, shared) = settable_clock("2026-11-30T08:00:00Z");
        let mut rules = IntakeRules::from_settings(&batched_db.settings());
        rules.new_tickets_per_sender_per_hour = 4;
        let batched_store = batched_db.store().await;
        let reference_store = reference_db.store().await;
        let batched = Intake::new(batched_store.clone(), rules.clone(), shared.clone());
        let reference = Intake::new(reference_store.clone(), rules, shared.clone());
        let phones = [
            "09121000001",
            "09121000002",
            "+989121000003",
            "09351000004",
            "09121000005",
            "09121000006",
        ];
        let mut rng = StdRng::seed_from_u64(20261130);
        // Per provider id: the text spec first sent under it.
        let mut sent: Vec<(String, usize, SmsText)> = Vec::new();
        let mut next_id = 0usize;
        for round in 0..40 {
            let mut specs: Vec<(String, usize, SmsText)> = Vec::new();
            for _ in 0..rng.random_range(1..=10) {
                let roll = rng.random_range(0..100);
                let spec = if roll < 8 && !sent.is_empty() {
                    // A provider's retry: same id, same text.
                    sent[rng.random_range(0..sent.len())].clone()
                } else if roll < 10 && !specs.is_empty() {
                    specs[rng.random_range(0..specs.len())].clone()
                } else if roll < 11 && !sent.is_empty() {
                    // The id reused for another text.
                    let (id, phone, _) = sent[rng.random_range(0..sent.len())].clone();
                    (id, phone, SmsText::Plain(format!("another text {round}")))
                } else {
                    next_id += 1;
                    let text = match rng.random_range(0..100) {
                        0..5 => SmsText::Blank,
                        5..20 => SmsText::Names(
                            rng.random_range(0..50),
                            rng.random_bool(0.5),
                            format!("still down {next_id}"),
                        ),
                        20..23 => SmsText::Mistyped(rng.random_range(0..50)),
                        23..25 => SmsText::Unknown,
                        _ => SmsText::Plain(if rng.random_bool(0.5) {
                            format!("اینترنت من قطع است {next_id}")
                        } else {
                            format!("My line is down, message {next_id}")
                        }),
                    };
                    (
                        // Some ids with what must be quoted in SQL arrays.
                        if next_id.is_multiple_of(7) {
                            format!("p\"{next_id}, {{'\\}}")
                        } else {
                            format!("p{next_id}")
                        },
                        rng.random_range(0..phones.len()),
                        text,
                    )
                };
                specs.push(spec);
            }
            let items = |numbers: &[String]| -> Vec<InboundItem> {
                specs
                    .iter()
                    .map(|(id, phone, text)| {
                        sms(id, phones[*phone], &resolve(text, numbers), clock.now_utc())
                    })
                    .collect()
            };
            let batched_numbers = ticket_numbers(&batched_store).await;
            let reference_numbers = ticket_numbers(&reference_store).await;
            // Without the retry item by item, so a failing batch statement fails the test.
            let got = batched
                .ingest_batch_without_retry(items(&batched_numbers))
                .await
                .expect("batch");
            let want = reference
                .ingest_batch_item_by_item(items(&reference_numbers))
                .await
                .expect("item by item");
            let batched_numbers = ticket_numbers(&batched_store).await;
            let reference_numbers = ticket_numbers(&reference_store).await;
            let rank = |numbers: &[String], n: &Option<String>| {
                n.as_ref().map(|n| numbers.iter().position(|x| x == n))
            };
            let strip = |numbers: &[String], reason: &Option<String>| {
                reason.as_ref().map(|r| {
                    numbers.iter().enumerate().fold(r.clone(), |r, (i, n)| {
                        let mistyped = peyk::domain::ticket_number::TicketNumber::parse(n)
                            .map(|n| n.mistyped())
                            .unwrap_or_default();
                        r.replace(n, &format!("<T{i}>"))
                            .replace(&mistyped, &format!("<M{i}>"))
                    })
                })
            };
            for (index, (got, want)) in got.iter().zip(&want).enumerate() {
                assert_eq!(
                    (
                        got.outcome,
                        got.duplicate,
                        rank(&batched_numbers, &got.ticket_number),
                        strip(&batched_numbers, &got.reason)
                    ),
                    (
                        want.outcome,
                        want.duplicate,
                        rank(&reference_numbers, &want.ticket_number),
                        strip(&reference_numbers, &want.reason)
                    ),
                    "round {round}, message {index}: {:?}",
                    specs[index]
                );
            }
            assert_eq!(got.len(), want.len());
            for spec in specs {
                if !sent.iter().any(|(id, _, _)| *id == spec.0) {
                    sent.push(spec);
                }
            }

            // Between batches: time passes (or not), agents answer and close tickets.
            match rng.random_range(0..10) {
                0..3 => {}
                3..7 => clock.advance(Duration::minutes(rng.random_range(1..90))),
                7..9 => clock.advance(Duration::days(rng.random_range(1..4))),
                _ => clock.advance(Duration::days(rng.random_range(7..20))),
            }
            if !batched_numbers.is_empty() && rng.random_bool(0.4) {
                let which = rng.random_range(0..batched_numbers.len());
                let status = if rng.random_bool(0.5) {
                    TicketStatus::Closed
                } else {
                    TicketStatus::Answered
                };
                for (store, numbers) in [
                    (&batched_store, &batched_numbers),
                    (&reference_store, &reference_numbers),
                ] {
                    let t = ticket(store, &numbers[which]).await;
                    store::tickets::set_status(
                        store.db(),
                        t.id,
                        status,
                        None,
                        "agent",
                        clock.now_utc(),
                    )
                    .await
                    .expect("status");
                }
            }
        }
        let got = normalized_dump(&batched_store).await;
        let want = normalized_dump(&reference_store).await;
        for (index, (got, want)) in got.iter().zip(&want).enumerate() {
            assert_eq!(got, want, "row {index}");
        }
        assert_eq!(got.len(), want.len());
        assert!(
            got.iter().filter(|r| r.starts_with("ticket ")).count() > 10
                && got.iter().any(|r| r.contains("held: over"))
                && got.iter().any(|r| r.contains("reopened"))
                && got
                    .iter()
                    .any(|r| r.contains("already used") || r.contains("ignored")),
            "the scenario covers what it is meant to"
        );
        batched_db.cleanup().await;
        reference_db.cleanup().await;
    }
}
