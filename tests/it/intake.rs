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
