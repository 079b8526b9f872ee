//! The agent web view in a real browser: Debian's Chromium, headless, driven through
//! chromedriver (WebDriver), against a `peyk serve` child on SQLite. Ids and names are those
//! of docs/web-ui.md. Screenshots land in `target/screenshots/`.

mod kit;

use mail_parser::MessageParser;
use serde_json::Value;

use crate::dovecot::Dovecot;
use crate::smtp::SmtpServer;
use kit::{Agent, Browser, Peyk, eventually};

const CUSTOMER_PASSWORD: &str = "customer secret";

/// A plain customer email; returns it and its Message-ID (with angle brackets).
fn customer_email(from: &str, subject: &str, body: &str) -> (Vec<u8>, String) {
    let message_id = format!("<web-{:016x}@customer.example>", rand::random::<u64>());
    let raw = format!(
        "From: Sara Customer <{from}>\r\nTo: Support <support@peyk.example>\r\nSubject: {subject}\r\nDate: Mon, 30 Nov 2026 10:00:00 +0330\r\nMessage-ID: {message_id}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    );
    (raw.into_bytes(), message_id)
}

/// Real mail around `serve`: an SMTP server (STARTTLS + AUTH) delivering into Dovecot, where
/// the customer has a mailbox.
struct Mail {
    dovecot: Dovecot,
    smtp: SmtpServer,
    customer: String,
}

impl Mail {
    async fn start(customer: &str) -> Mail {
        let dovecot = Dovecot::start().await;
        dovecot.add_user(customer, CUSTOMER_PASSWORD);
        let (cert, key) = dovecot.server_cert_files();
        let smtp = SmtpServer::start(&cert, &key, Some(dovecot.lmtp_port)).await;
        Mail {
            dovecot,
            smtp,
            customer: customer.to_string(),
        }
    }

    /// The `[smtp]` section for Peyk's config.
    fn config(&self) -> String {
        format!(
            "[smtp]\nurl = \"{}\"\nca_file = \"{}\"\n",
            self.smtp.url(),
            self.dovecot.ca_file().display()
        )
    }

    /// The customer's INBOX, oldest first.
    async fn inbox(&self) -> Vec<Vec<u8>> {
        let mut imap = self
            .dovecot
            .client_as(&self.customer, CUSTOMER_PASSWORD)
            .await;
        imap.messages("INBOX").await
    }
}

fn body_text(raw: &[u8]) -> String {
    MessageParser::default()
        .parse(raw)
        .and_then(|m| m.body_text(0).map(|b| b.into_owned()))
        .unwrap_or_default()
}

/// Opens a ticket the way an agent does: search the queue for its number with `#q`, then
/// follow its `a.ticket-link`.
async fn open_from_queue(browser: &Browser, peyk: &Peyk, number: &str, absent: &[&str]) {
    browser.goto_url(&peyk.url("/queue")).await;
    browser.el("#queue-filter").await;
    browser.fill("#q", number).await;
    browser.click_and_wait("#filter-submit").await;
    browser.wait_for_path("/queue").await;
    let row = format!("#queue tr.ticket-row[data-number=\"{number}\"]");
    browser.el(&row).await;
    for other in absent {
        assert_eq!(
            browser
                .count(&format!("tr.ticket-row[data-number=\"{other}\"]"))
                .await,
            0,
            "searching {number} still lists {other}"
        );
    }
    browser
        .click_and_wait(&format!("{row} a.ticket-link"))
        .await;
    browser.wait_for_path(&format!("/tickets/{number}")).await;
    let shown = browser.el("#ticket").await.attr("data-number").await;
    assert_eq!(shown.expect("data-number").as_deref(), Some(number));
}

/// The `.message-body` texts of the thread's messages with this `data-direction`.
async fn thread_texts(browser: &Browser, direction: &str) -> Vec<String> {
    browser
        .js_with(
            "return Array.from(document.querySelectorAll('#thread article.message'))
                .filter(m => m.dataset.direction === arguments[0])
                .map(m => (m.querySelector('.message-body') || m).innerText);",
            vec![Value::from(direction)],
        )
        .await
}

/// Types `text` in `#reply-body` (an internal note when `internal`) and sends `#reply-form`.
async fn reply(browser: &Browser, text: &str, internal: bool) {
    browser.fill("#reply-body", text).await;
    let internal_box = browser.el("#reply-internal").await;
    if internal_box.is_selected().await.expect("checkbox") != internal {
        internal_box.click().await.expect("toggle #reply-internal");
    }
    browser.click_and_wait("#reply-submit").await;
}

fn kinds(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["kind"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[tokio::test]
async fn browser_harness_opens_chromium_and_reaches_serve() {
    let mut peyk = Peyk::new("").await;
    peyk.start();
    let browser = Browser::start("harness").await;
    browser.goto_url(&peyk.url("/healthz")).await;
    assert_eq!(browser.status().await, 200);
    let shot = browser.screenshot("healthz").await;
    assert!(std::fs::metadata(&shot).expect("screenshot").len() > 100);
    browser.quit().await;
    peyk.stop();
}

#[tokio::test]
async fn browser_agent_logs_in_finds_the_ticket_and_the_reply_reaches_the_mailbox() {
    let customer = "sara@customer.example";
    let mail = Mail::start(customer).await;
    let mut peyk = Peyk::new(&mail.config()).await;
    let agent = peyk.add_agent("reza@peyk.example", "Reza", false);
    peyk.start();
    let browser = Browser::start("reply").await;

    // Without a session: to the login page.
    browser.goto_url(&peyk.url("/queue")).await;
    browser.wait_for_path("/login").await;
    browser
        .login(&peyk.base, &agent.email, &agent.password)
        .await;

    // Mail arrives while serve runs.
    let (raw, customer_id) = customer_email(
        customer,
        "Modem keeps rebooting",
        "Hello, my modem reboots every ten minutes since yesterday.",
    );
    let number = peyk.import_new_ticket(&raw);
    mail.dovecot
        .add_user("someone@else.example", CUSTOMER_PASSWORD);
    let (other, _) = customer_email(
        "someone@else.example",
        "Invoice question",
        "Why was I billed twice?",
    );
    let other = peyk.import_new_ticket(&other);

    open_from_queue(&browser, &peyk, &number, &[&other]).await;
    let inbound = thread_texts(&browser, "inbound").await;
    assert!(
        inbound
            .iter()
            .any(|t| t.contains("reboots every ten minutes")),
        "{inbound:?}"
    );

    let answer = "Please unplug the modem for thirty seconds, then plug it in again.";
    reply(&browser, answer, false).await;
    browser.wait_for_path(&format!("/tickets/{number}")).await;
    browser.el(".flash").await;
    let outbound = thread_texts(&browser, "outbound").await;
    assert!(
        outbound.iter().any(|t| t.contains(answer)),
        "the reply is not in the thread: {outbound:?}"
    );

    // In the outbox, then sent by serve's worker.
    let items = peyk.outbox_of(&agent, &number).await;
    let reply_item = items
        .iter()
        .find(|i| i["kind"] == "agent_reply")
        .unwrap_or_else(|| panic!("no agent_reply in the outbox: {items:?}"))
        .clone();
    assert_eq!(reply_item["channel"], "email", "{reply_item}");
    assert_eq!(reply_item["recipient"], customer, "{reply_item}");
    let sent = eventually("the reply to be sent", 90, || async {
        let items = peyk.outbox_of(&agent, &number).await;
        items
            .into_iter()
            .find(|i| i["kind"] == "agent_reply" && i["status"] == "sent")
    })
    .await;
    let sent_id = sent["message_id"].as_str().expect("message_id").to_string();

    // The page shows the delivery state, and so does the outbox page.
    browser.refresh().await.expect("reload");
    browser.el("#thread .delivery[data-status=\"sent\"]").await;
    browser.goto_url(&peyk.url("/outbox?status=sent")).await;
    let rows: Vec<(String, String)> = browser
        .js("return Array.from(document.querySelectorAll('#outbox tr.outbox-row')).map(r => [r.dataset.status, r.innerText]);")
        .await;
    assert!(
        rows.iter()
            .any(|(status, text)| status == "sent" && text.contains(&number)),
        "{rows:?}"
    );

    // And the customer has it.
    let delivered = eventually("the reply in the customer's mailbox", 60, || async {
        mail.inbox()
            .await
            .into_iter()
            .find(|raw| body_text(raw).contains(answer))
    })
    .await;
    let parsed = MessageParser::default()
        .parse(delivered.as_slice())
        .expect("parse");
    assert!(
        parsed
            .subject()
            .is_some_and(|s| s.starts_with(&format!("[#{number}]"))),
        "{:?}",
        parsed.subject()
    );
    assert_eq!(parsed.message_id().map(|m| format!("<{m}>")), Some(sent_id));
    assert_eq!(
        parsed.in_reply_to().as_text().map(|m| format!("<{m}>")),
        Some(customer_id)
    );
    // The acknowledgement and the reply, each once.
    eventually("two deliveries to the customer", 60, || async {
        let n = mail
            .smtp
            .deliveries()
            .iter()
            .filter(|d| d.recipient == customer)
            .count();
        (n == 2).then_some(())
    })
    .await;

    browser.quit().await;
    peyk.stop();
}

#[tokio::test]
async fn browser_internal_note_stays_internal() {
    let customer = "note@customer.example";
    let mail = Mail::start(customer).await;
    let mut peyk = Peyk::new(&mail.config()).await;
    let agent = peyk.add_agent("mina@peyk.example", "Mina", false);
    let (raw, _) = customer_email(customer, "Slow internet", "Speed is 1 Mbit/s at night.");
    let number = peyk.import_new_ticket(&raw);
    peyk.start();
    // The acknowledgement goes out first: from then on, anything more would be the note.
    eventually("the acknowledgement to be sent", 90, || async {
        let items = peyk.outbox_of(&agent, &number).await;
        (!items.is_empty() && items.iter().all(|i| i["status"] == "sent")).then_some(())
    })
    .await;

    let browser = Browser::start("note").await;
    browser
        .login(&peyk.base, &agent.email, &agent.password)
        .await;
    open_from_queue(&browser, &peyk, &number, &[]).await;
    let note = "Customer called twice; line check booked for Tuesday.";
    reply(&browser, note, true).await;
    browser.wait_for_path(&format!("/tickets/{number}")).await;
    let notes = thread_texts(&browser, "note").await;
    assert!(notes.iter().any(|t| t.contains(note)), "{notes:?}");
    assert!(
        !thread_texts(&browser, "outbound")
            .await
            .iter()
            .any(|t| t.contains(note)),
        "the note shows as an outbound message"
    );

    let items = peyk.outbox_of(&agent, &number).await;
    assert_eq!(kinds(&items), vec!["ticket_received"], "{items:?}");
    let messages = peyk.messages_of(&agent, &number).await;
    let stored = messages
        .iter()
        .find(|m| m["body_text"].as_str().is_some_and(|b| b.contains(note)))
        .expect("note stored");
    assert_eq!(stored["direction"], "note", "{stored}");

    // Give a wrongly sent note time to arrive: only the acknowledgement is there.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let inbox = mail.inbox().await;
    assert_eq!(inbox.len(), 1, "only the acknowledgement");
    assert!(!body_text(&inbox[0]).contains(note));
    assert!(
        !inbox
            .iter()
            .any(|raw| String::from_utf8_lossy(raw).contains("line check booked"))
    );

    browser.quit().await;
    peyk.stop();
}

#[tokio::test]
async fn browser_inbound_html_runs_no_script() {
    let mut peyk = Peyk::new("").await;
    let agent = peyk.add_agent("ali@peyk.example", "Ali", false);
    let html = r#"<html><body onload="window.__pwned=6">
<p>Harmless greeting: the router light is <b>orange</b>.</p>
<script>window.__pwned=1</script>
<img src="x" onerror="window.__pwned=2">
<a id="evil" href="javascript:window.__pwned=3">click me</a>
<svg onload="window.__pwned=4"><circle r="5"></circle></svg>
<iframe src="javascript:parent.__pwned=5"></iframe>
<form action="javascript:window.__pwned=7"><button>go</button></form>
<p style="background:url(javascript:window.__pwned=8)">Thanks, Sara</p>
</body></html>"#;
    let raw = format!(
        "From: Sara <sara@customer.example>\r\nTo: support@peyk.example\r\nSubject: Router <img src=x onerror=\"window.__pwned=9\"> light\r\nMessage-ID: <html-{:016x}@customer.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHarmless greeting: the router light is orange. <script>window.__pwned=10</script>\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--b1--\r\n",
        rand::random::<u64>()
    );
    let number = peyk.import_new_ticket(raw.as_bytes());
    peyk.start();
    let browser = Browser::start("xss").await;
    browser
        .login(&peyk.base, &agent.email, &agent.password)
        .await;

    // The subject in the queue is text.
    browser.goto_url(&peyk.url("/queue")).await;
    browser
        .el(&format!("tr.ticket-row[data-number=\"{number}\"]"))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let pwned: Value = browser
        .js("return window.__pwned === undefined ? null : window.__pwned")
        .await;
    assert_eq!(pwned, Value::Null, "script ran on the queue page");
    assert_eq!(browser.count("img[onerror]").await, 0);

    browser
        .goto_url(&peyk.url(&format!("/tickets/{number}")))
        .await;
    browser.el("#thread .message-html").await;
    // Shown as an agent sees it, also when the page folds it away (e.g. in <details>).
    let _: Value = browser
        .js("document.querySelectorAll('#thread details').forEach(d => { d.open = true; }); return null;")
        .await;
    // Give an image error or a load event time to fire.
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let pwned: Value = browser
        .js("return window.__pwned === undefined ? null : window.__pwned")
        .await;
    assert_eq!(pwned, Value::Null, "script ran on the ticket page");

    // Sanitized, not merely blocked by the CSP.
    let dangerous: Vec<String> = browser
        .js(
            "const bad = [];
             for (const el of document.querySelectorAll('*')) {
               for (const a of el.attributes) {
                 if (/^on/i.test(a.name)) bad.push(el.tagName + ' ' + a.name);
                 if (/^\\s*javascript:/i.test(a.value)) bad.push(el.tagName + ' ' + a.name + '=' + a.value);
               }
             }
             for (const el of document.querySelectorAll('#thread script, #thread iframe, #thread form, #thread svg'))
               bad.push(el.tagName);
             return bad;",
        )
        .await;
    assert!(dangerous.is_empty(), "left in the page: {dangerous:?}");

    let html_text: String = browser
        .js("return Array.from(document.querySelectorAll('.message-html')).map(e => e.innerText).join('\\n')")
        .await;
    assert!(
        html_text.contains("Harmless greeting") && html_text.contains("orange"),
        "{html_text:?}"
    );
    assert!(html_text.contains("Thanks, Sara"), "{html_text:?}");

    // Clicking what is left of the link does nothing either.
    if browser.count(".message-html a").await > 0 {
        let link = browser.el(".message-html a").await;
        let _ = link.click().await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let pwned: Value = browser
            .js("return window.__pwned === undefined ? null : window.__pwned")
            .await;
        assert_eq!(pwned, Value::Null, "the link ran script");
    }
    browser.screenshot("ticket-html").await;

    browser.quit().await;
    peyk.stop();
}

#[tokio::test]
async fn browser_forms_without_the_csrf_token_are_refused() {
    let mut peyk = Peyk::new("").await;
    let agent = peyk.add_agent("leila@peyk.example", "Leila", false);
    let (raw, _) = customer_email(
        "csrf@customer.example",
        "Cannot log in",
        "The portal says my password is wrong.",
    );
    let number = peyk.import_new_ticket(&raw);
    peyk.start();
    let browser = Browser::start("csrf").await;
    browser
        .login(&peyk.base, &agent.email, &agent.password)
        .await;
    let ticket_url = peyk.url(&format!("/tickets/{number}"));
    let before = peyk.messages_of(&agent, &number).await;

    // The reply form without its token.
    browser.goto_url(&ticket_url).await;
    browser.el("#reply-form").await;
    let removed: usize = browser
        .js("const t = document.querySelectorAll('#reply-form input[name=csrf_token]'); t.forEach(e => e.remove()); return t.length;")
        .await;
    assert_eq!(removed, 1, "#reply-form has one csrf_token");
    let forged = "This reply has no CSRF token and must not be stored.";
    browser.fill("#reply-body", forged).await;
    browser.click_and_wait("#reply-submit").await;
    assert_eq!(browser.status().await, 403, "{}", browser.body_text().await);
    assert!(
        !browser.body_text().await.trim().is_empty(),
        "an empty 403 page"
    );
    browser.screenshot("csrf-403").await;

    // The reply form with a wrong token.
    browser.goto_url(&ticket_url).await;
    let _: Value = browser
        .js("document.querySelector('#reply-form input[name=csrf_token]').value = '00'.repeat(32); return null;")
        .await;
    browser.fill("#reply-body", forged).await;
    browser.click_and_wait("#reply-submit").await;
    assert_eq!(browser.status().await, 403, "a wrong token");

    // The ticket form without its token.
    browser.goto_url(&ticket_url).await;
    let _: Value = browser
        .js("document.querySelectorAll('#ticket-update input[name=csrf_token]').forEach(e => e.remove());
             const s = document.querySelector('#update-status'); s.value = 'closed'; return null;")
        .await;
    browser.click_and_wait("#update-submit").await;
    assert_eq!(browser.status().await, 403, "#ticket-update without token");

    // Nothing changed.
    browser.goto_url(&ticket_url).await;
    browser.el("#thread").await;
    assert_eq!(
        browser.count("#thread article.message").await,
        before.len(),
        "the thread changed"
    );
    assert!(!browser.body_text().await.contains(forged));
    let after = peyk.messages_of(&agent, &number).await;
    assert_eq!(after.len(), before.len(), "{after:?}");
    let ticket = peyk.api(&agent, &format!("/api/tickets/{number}")).await;
    assert_eq!(ticket["status"], "open", "{ticket}");
    let items = peyk.outbox_of(&agent, &number).await;
    assert_eq!(kinds(&items), vec!["ticket_received"], "{items:?}");

    // With the token the same form works.
    browser.fill("#reply-body", "A real answer.").await;
    browser.click_and_wait("#reply-submit").await;
    assert_ne!(browser.status().await, 403);
    assert_eq!(
        peyk.messages_of(&agent, &number).await.len(),
        before.len() + 1
    );

    browser.quit().await;
    peyk.stop();
}

async fn direction(browser: &Browser) -> (String, String, String) {
    let (lang, dir, body): (String, String, String) = browser
        .js("return [document.documentElement.lang, document.documentElement.dir, getComputedStyle(document.body).direction];")
        .await;
    (lang, dir, body)
}

fn has_persian_letters(text: &str) -> bool {
    text.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c))
}

async fn show_queue_and_ticket(browser: &Browser, peyk: &Peyk, number: &str, lang: &str) {
    browser.goto_url(&peyk.url("/queue")).await;
    browser
        .el(&format!("tr.ticket-row[data-number=\"{number}\"]"))
        .await;
    let expected = if lang == "fa" {
        ("fa", "rtl", "rtl")
    } else {
        ("en", "ltr", "ltr")
    };
    let seen = direction(browser).await;
    assert_eq!(
        (seen.0.as_str(), seen.1.as_str(), seen.2.as_str()),
        expected,
        "queue page"
    );
    // The interface itself speaks the language (the filter form has no customer text).
    let labels: String = browser
        .js("return document.getElementById('queue-filter').innerText")
        .await;
    assert_eq!(
        has_persian_letters(&labels),
        lang == "fa",
        "queue filter labels in {lang}: {labels:?}"
    );
    browser.screenshot(&format!("queue-{lang}")).await;
    browser
        .goto_url(&peyk.url(&format!("/tickets/{number}")))
        .await;
    browser.el("#thread").await;
    let seen = direction(browser).await;
    assert_eq!(
        (seen.0.as_str(), seen.1.as_str(), seen.2.as_str()),
        expected,
        "ticket page"
    );
    browser.screenshot(&format!("ticket-{lang}")).await;
}

#[tokio::test]
async fn browser_persian_agent_sees_right_to_left_pages() {
    let mut peyk = Peyk::new("").await;
    let agent: Agent = peyk.add_agent("nasrin@peyk.example", "Nasrin", false);
    let (raw, _) = customer_email(
        "maryam@customer.example",
        "=?utf-8?B?2KfbjNmG2KrYsdmG2Kog2YLYt9i5INin2LPYqg==?=",
        "سلام، اینترنت من از دیشب قطع است. لطفاً پیگیری کنید.",
    );
    let number = peyk.import_new_ticket(&raw);
    let (raw, _) = customer_email(
        "john@customer.example",
        "Wrong invoice amount",
        "Hello, the invoice for November is twice the usual amount.",
    );
    peyk.import_new_ticket(&raw);
    peyk.start();
    let browser = Browser::start("persian").await;
    browser
        .login(&peyk.base, &agent.email, &agent.password)
        .await;

    // app.default_language is en here: English, left to right.
    show_queue_and_ticket(&browser, &peyk, &number, "en").await;

    // The header's language form.
    browser.goto_url(&peyk.url("/queue")).await;
    browser.el("#language-form").await;
    let _how: String = browser
        .js("const f = document.getElementById('language-form');
             window.__peykOldPage = true;
             const button = f.querySelector('button[name=language][value=fa], input[type=submit][name=language][value=fa]');
             if (button) { button.click(); return 'button'; }
             const radio = f.querySelector('input[type=radio][name=language][value=fa]');
             if (radio) { radio.checked = true; f.requestSubmit(); return 'radio'; }
             f.querySelector('[name=language]').value = 'fa';
             f.requestSubmit();
             return 'field';")
        .await;
    eventually("the language form's answer", 15, || async {
        let fresh: bool = browser
            .js("return window.__peykOldPage !== true && document.readyState === 'complete'")
            .await;
        fresh.then_some(())
    })
    .await;
    assert!(
        browser.status().await < 400,
        "{}",
        browser.body_text().await
    );

    show_queue_and_ticket(&browser, &peyk, &number, "fa").await;

    // Persian digits on the page, and typed in Persian digits the number is found.
    let persian_number: String = number
        .chars()
        .map(|c| char::from_u32('۰' as u32 + c.to_digit(10).expect("digit")).expect("digit"))
        .collect();
    browser.goto_url(&peyk.url("/queue")).await;
    let row_text = browser
        .el(&format!("tr.ticket-row[data-number=\"{number}\"]"))
        .await
        .text()
        .await
        .expect("text");
    assert!(row_text.contains(&persian_number), "{row_text:?}");
    browser.fill("#q", &persian_number).await;
    browser.click_and_wait("#filter-submit").await;
    browser
        .el(&format!("tr.ticket-row[data-number=\"{number}\"]"))
        .await;
    assert_eq!(
        browser.count("tr.ticket-row").await,
        1,
        "search {persian_number}"
    );

    // The choice is the agent's: a new session keeps it.
    browser.delete_all_cookies().await.expect("cookies");
    browser
        .login(&peyk.base, &agent.email, &agent.password)
        .await;
    browser.goto_url(&peyk.url("/queue")).await;
    browser.el("#queue").await;
    assert_eq!(direction(&browser).await.1, "rtl", "after logging in again");

    browser.quit().await;
    peyk.stop();
}
