//! The agent web view over HTTP, on SQLite and PostgreSQL: login and sessions (shared by two
//! servers), CSRF refusals, login limits, collision warnings, notes, ticket changes, inbound
//! and outbox actions, admin, attachments, sanitized HTML, Persian and English pages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use peyk::app::{App, AppError};
use peyk::clock::SharedClock;
use peyk::config::Settings;
use peyk::inbound::email::parse_email;
use peyk::intake::{InboundItem, Intake};
use peyk::service::agents::{AgentRole, add_agent};
use peyk::store::entities::{inbound_receipt, message, outbox_item, ticket, ticket_event};
use peyk::store::{self, Store};
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::harness::{TestDb, backends, fixtures_dir, system_clock};

const PASSWORD: &str = "correct horse battery";

struct Server {
    base: String,
    store: Store,
    intake: Intake,
    stop: oneshot::Sender<()>,
    running: JoinHandle<Result<(), AppError>>,
}

impl Server {
    async fn start(settings: Settings, clock: SharedClock) -> Server {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let app = App::build(settings, clock).await.expect("app builds");
        let base = format!("http://{}", app.local_addr().expect("bound"));
        let (store, intake) = (app.store().clone(), app.intake().clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let running = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        Server {
            base,
            store,
            intake,
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
}

/// A browser-like client: keeps cookies, does not follow redirects.
#[derive(Clone)]
struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: Arc<Mutex<HashMap<String, String>>>,
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Page {
    /// The value of hidden input `name` (the first one).
    fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in:\n{}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').expect("closing quote") + start;
        self.body[start..end].to_string()
    }
}

impl Browser {
    fn new(base: &str) -> Browser {
        Browser {
            base: base.to_string(),
            client: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .expect("client"),
            cookies: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The same cookies, sent to another server.
    fn at(&self, base: &str) -> Browser {
        Browser {
            base: base.to_string(),
            client: self.client.clone(),
            cookies: self.cookies.clone(),
        }
    }

    fn cookie_header(&self) -> String {
        let cookies = self.cookies.lock().expect("cookies");
        cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&self, response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        for set in headers.get_all("set-cookie") {
            let text = set.to_str().expect("ascii cookie");
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                let mut cookies = self.cookies.lock().expect("cookies");
                if value.is_empty() || text.contains("Max-Age=0") {
                    cookies.remove(name);
                } else {
                    cookies.insert(name.to_string(), value.to_string());
                }
            }
        }
        let location = headers
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_string);
        let body = response.text().await.unwrap_or_default();
        Page {
            status,
            location,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("GET");
        self.finish(response).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .expect("POST");
        self.finish(response).await
    }

    async fn login(&self, email: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        assert_eq!(form.status, StatusCode::OK);
        let token = form.hidden("csrf_token");
        self.post(
            "/login",
            &[
                ("email", email),
                ("password", password),
                ("csrf_token", &token),
                ("next", "/queue"),
            ],
        )
        .await
    }
}

struct Desk {
    db: TestDb,
    store: Store,
    intake: Intake,
    server: Server,
}

impl Desk {
    async fn open(db: TestDb, configure: impl FnOnce(&mut Settings)) -> Desk {
        let mut settings = db.settings();
        settings.notify.from = "Support <no-reply@peyk.example>".into();
        settings.notify.own_addresses = vec![
            "support@peyk.example".into(),
            "no-reply@peyk.example".into(),
        ];
        configure(&mut settings);
        let setup = db.store().await;
        let clock = system_clock();
        add_agent(
            &setup,
            clock.as_ref(),
            "admin@peyk.example",
            "Admin",
            PASSWORD,
            AgentRole::Admin,
        )
        .await
        .expect("admin");
        add_agent(
            &setup,
            clock.as_ref(),
            "sara@peyk.example",
            "Sara",
            PASSWORD,
            AgentRole::Agent,
        )
        .await
        .expect("agent");
        let server = Server::start(settings, clock).await;
        // The server's own store and intake: on SQLite one process's write gate keeps
        // transactions from meeting each other.
        let (store, intake) = (server.store.clone(), server.intake.clone());
        Desk {
            db,
            store,
            intake,
            server,
        }
    }

    async fn import(&self, raw: &[u8]) -> Option<String> {
        let parsed = parse_email(raw, "import", None, 10 << 20, system_clock().now())
            .result
            .expect("parses");
        self.intake
            .ingest(InboundItem::Parsed(Box::new(parsed)))
            .await
            .expect("ingest")
            .ticket_number
    }

    async fn fixture(&self, name: &str) -> String {
        let raw = std::fs::read(fixtures_dir().join("email/intake").join(name)).expect("fixture");
        self.import(&raw).await.expect("a ticket")
    }

    async fn close(self) {
        self.server.stop().await;
        self.db.cleanup().await;
    }

    async fn count_messages(&self, number: &str, direction: &str) -> u64 {
        let ticket = store::tickets::find_by_number(self.store.db(), number)
            .await
            .expect("query")
            .expect("ticket");
        message::Entity::find()
            .filter(message::Column::TicketId.eq(ticket.id))
            .filter(message::Column::Direction.eq(direction))
            .count(self.store.db())
            .await
            .expect("count")
    }

    async fn outbox_kinds(&self, number: &str) -> Vec<String> {
        let ticket = store::tickets::find_by_number(self.store.db(), number)
            .await
            .expect("query")
            .expect("ticket");
        outbox_item::Entity::find()
            .filter(outbox_item::Column::TicketId.eq(ticket.id))
            .all(self.store.db())
            .await
            .expect("outbox")
            .into_iter()
            .map(|o| (o.id, o.kind))
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_values()
            .collect()
    }
}

fn customer_email(id: &str, from: &str, subject: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "From: Customer <{from}>\r\nTo: support@peyk.example\r\nSubject: {subject}\r\nMessage-ID: <{id}@customer.example>\r\n{extra_headers}Content-Type: text/plain; charset=utf-8\r\n\r\nPlease help with {subject}.\r\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_shared_csrf_is_required_and_logins_are_limited() {
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let second_settings = {
            let mut s = db.settings();
            s.http.login_attempts_per_minute = 4;
            s
        };
        let desk = Desk::open(db, |s| s.http.login_attempts_per_minute = 4).await;
        let browser = Browser::new(&desk.server.base);

        // No session: to the login page, remembering where the agent was going.
        let page = browser.get("/queue?status=all").await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{backend:?}");
        assert_eq!(
            page.location.as_deref(),
            Some("/login?next=%2Fqueue%3Fstatus%3Dall")
        );
        assert!(page.headers.get("content-security-policy").is_some());

        // A login form posted without its token is refused.
        let refused = browser
            .post(
                "/login",
                &[("email", "sara@peyk.example"), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);

        // Wrong password: 401 and no session.
        let wrong = browser.login("sara@peyk.example", "not the password").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert!(!browser.cookie_header().contains("peyk_session"));

        // The right one: a session cookie, HttpOnly, SameSite, not Secure over http.
        let ok = browser.login("sara@peyk.example", PASSWORD).await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER);
        assert_eq!(ok.location.as_deref(), Some("/queue"));
        let set_cookie = ok
            .headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("peyk_session="))
            .expect("session cookie")
            .to_string();
        assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
        assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
        assert!(!set_cookie.contains("Secure"), "{set_cookie}");
        let queue = browser.get("/queue").await;
        assert_eq!(queue.status, StatusCode::OK);
        assert!(queue.body.contains("id=\"queue-filter\""));

        // A second `serve` process on the same database accepts the same session.
        let second = Server::start(second_settings, system_clock()).await;
        let elsewhere = browser.at(&second.base);
        assert_eq!(elsewhere.get("/queue").await.status, StatusCode::OK);

        // A form without the session's CSRF token changes nothing: 403.
        let number = desk
            .import(&customer_email("csrf-1", "cust@example.com", "Router", ""))
            .await
            .expect("ticket");
        let refused = browser
            .post(
                &format!("/tickets/{number}/reply"),
                &[("body", "sent without a token")],
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        let forged = browser
            .post(
                &format!("/tickets/{number}/reply"),
                &[
                    ("body", "forged token"),
                    ("csrf_token", "0".repeat(64).as_str()),
                ],
            )
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        assert_eq!(desk.count_messages(&number, "outbound").await, 0);
        assert_eq!(desk.count_messages(&number, "note").await, 0);

        // Logout ends the session everywhere.
        let page = browser.get("/queue").await;
        let token = page.hidden("csrf_token");
        let out = browser.post("/logout", &[("csrf_token", &token)]).await;
        assert_eq!(out.status, StatusCode::SEE_OTHER);
        let stranger = Browser::new(&second.base);
        assert_eq!(stranger.get("/queue").await.status, StatusCode::SEE_OTHER);
        assert_eq!(elsewhere.get("/queue").await.status, StatusCode::SEE_OTHER);

        // Guessing passwords: 4 wrong ones a minute from one address (Sara's typo was the
        // first), then 429.
        let guesser = Browser::new(&desk.server.base);
        let mut statuses = Vec::new();
        for _ in 0..4 {
            statuses.push(guesser.login("admin@peyk.example", "guess").await.status);
        }
        assert_eq!(
            statuses,
            vec![
                StatusCode::UNAUTHORIZED,
                StatusCode::UNAUTHORIZED,
                StatusCode::UNAUTHORIZED,
                StatusCode::TOO_MANY_REQUESTS
            ]
        );
        // Even the right password waits out the limit.
        assert_eq!(
            guesser.login("admin@peyk.example", PASSWORD).await.status,
            StatusCode::TOO_MANY_REQUESTS
        );

        second.stop().await;
        desk.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_after_someone_else_answered_is_held_and_notes_reach_no_one() {
    for backend in backends() {
        let desk = Desk::open(TestDb::create(backend).await, |_| {}).await;
        let number = desk
            .import(&customer_email("c-1", "cust@example.com", "Slow line", ""))
            .await
            .expect("ticket");
        let sara = Browser::new(&desk.server.base);
        sara.login("sara@peyk.example", PASSWORD).await;
        let admin = Browser::new(&desk.server.base);
        admin.login("admin@peyk.example", PASSWORD).await;

        // Both open the ticket; the admin answers first.
        let sara_page = sara.get(&format!("/tickets/{number}")).await;
        assert_eq!(sara_page.status, StatusCode::OK);
        let admin_page = admin.get(&format!("/tickets/{number}")).await;
        let answered = admin
            .post(
                &format!("/tickets/{number}/reply"),
                &[
                    ("csrf_token", &admin_page.hidden("csrf_token")),
                    ("seen_message_id", &admin_page.hidden("seen_message_id")),
                    ("body", "We are on it."),
                ],
            )
            .await;
        assert_eq!(answered.status, StatusCode::SEE_OTHER, "{backend:?}");
        assert_eq!(
            answered.location.as_deref(),
            Some(format!("/tickets/{number}?notice=replied").as_str())
        );

        // Sara's reply, written against the page she loaded before, is held and shown back.
        let held = sara
            .post(
                &format!("/tickets/{number}/reply"),
                &[
                    ("csrf_token", &sara_page.hidden("csrf_token")),
                    ("seen_message_id", &sara_page.hidden("seen_message_id")),
                    ("body", "Please restart the modem."),
                ],
            )
            .await;
        assert_eq!(held.status, StatusCode::CONFLICT);
        assert!(held.body.contains("collision-warning"));
        assert!(held.body.contains("Please restart the modem."));
        assert!(held.body.contains("id=\"reply-force\""));
        assert!(
            held.body.contains("We are on it."),
            "the new answer is shown"
        );
        assert_eq!(desk.count_messages(&number, "outbound").await, 1);

        // Sent anyway, on purpose.
        let forced = sara
            .post(
                &format!("/tickets/{number}/reply"),
                &[
                    ("csrf_token", &held.hidden("csrf_token")),
                    ("seen_message_id", &sara_page.hidden("seen_message_id")),
                    ("body", "Please restart the modem."),
                    ("force", "1"),
                ],
            )
            .await;
        assert_eq!(forced.status, StatusCode::SEE_OTHER);
        assert_eq!(desk.count_messages(&number, "outbound").await, 2);

        // An internal note: stored, shown as a note, no notification.
        let before = desk.outbox_kinds(&number).await;
        let page = sara.get(&format!("/tickets/{number}")).await;
        let noted = sara
            .post(
                &format!("/tickets/{number}/reply"),
                &[
                    ("csrf_token", &page.hidden("csrf_token")),
                    ("seen_message_id", &page.hidden("seen_message_id")),
                    ("body", "Customer is on the old DSLAM."),
                    ("internal", "1"),
                ],
            )
            .await;
        assert_eq!(
            noted.location.as_deref(),
            Some(format!("/tickets/{number}?notice=noted").as_str())
        );
        assert_eq!(desk.outbox_kinds(&number).await, before);
        let page = sara.get(&format!("/tickets/{number}")).await;
        assert!(page.body.contains("data-direction=\"note\""));
        assert!(page.body.contains("Customer is on the old DSLAM."));

        // Changes: priority, assignee, then closing, which tells the customer.
        let sara_id = store::agents::find_by_email(desk.store.db(), "sara@peyk.example")
            .await
            .expect("query")
            .expect("sara")
            .id
            .to_string();
        let changed = sara
            .post(
                &format!("/tickets/{number}/update"),
                &[
                    ("csrf_token", &page.hidden("csrf_token")),
                    ("status", "in_progress"),
                    ("priority", "urgent"),
                    ("department", ""),
                    ("assignee", &sara_id),
                ],
            )
            .await;
        assert_eq!(changed.status, StatusCode::SEE_OTHER);
        let stored = store::tickets::find_by_number(desk.store.db(), &number)
            .await
            .expect("query")
            .expect("ticket");
        assert_eq!(stored.priority, "urgent");
        assert_eq!(stored.status, "in_progress");
        assert_eq!(stored.assignee_id.map(|id| id.to_string()), Some(sara_id));
        let kinds: Vec<String> = ticket_event::Entity::find()
            .filter(ticket_event::Column::TicketId.eq(stored.id))
            .all(desk.store.db())
            .await
            .expect("events")
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert!(kinds.contains(&"priority".to_string()), "{kinds:?}");
        assert!(kinds.contains(&"assignment".to_string()), "{kinds:?}");
        let mine = sara.get("/queue?assignee=mine").await;
        assert!(mine.body.contains(&format!("data-number=\"{number}\"")));
        let closed = sara
            .post(
                &format!("/tickets/{number}/update"),
                &[
                    ("csrf_token", &page.hidden("csrf_token")),
                    ("status", "closed"),
                ],
            )
            .await;
        assert_eq!(closed.status, StatusCode::SEE_OTHER);
        assert!(
            desk.outbox_kinds(&number)
                .await
                .contains(&"ticket_closed".to_string())
        );
        desk.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_html_is_sanitized_and_attachments_download_safely() {
    for backend in backends() {
        let desk = Desk::open(TestDb::create(backend).await, |_| {}).await;
        let html_ticket = desk.fixture("15-en-html-only-with-script.eml").await;
        let attachment_ticket = desk.fixture("14-fa-iso-8859-6-attachments.eml").await;
        let browser = Browser::new(&desk.server.base);
        browser.login("sara@peyk.example", PASSWORD).await;

        let page = browser.get(&format!("/tickets/{html_ticket}")).await;
        assert_eq!(page.status, StatusCode::OK, "{backend:?}");
        assert!(page.body.contains("class=\"message-html\""));
        assert!(page.body.contains("customers cannot place orders"));
        assert!(
            !page.body.contains("alert("),
            "script and handlers are gone"
        );
        assert!(!page.body.contains("onerror"));
        assert!(!page.body.contains("javascript:"));
        let csp = page.headers["content-security-policy"]
            .to_str()
            .expect("csp");
        assert!(csp.contains("script-src 'self'"), "{csp}");

        let page = browser.get(&format!("/tickets/{attachment_ticket}")).await;
        let link_start = page
            .body
            .find("href=\"/attachments/")
            .expect("attachment link")
            + 6;
        let link_end = page.body[link_start..].find('"').expect("quote") + link_start;
        let link = page.body[link_start..link_end].to_string();
        let download = browser.get(&link).await;
        assert_eq!(download.status, StatusCode::OK);
        let disposition = download.headers["content-disposition"]
            .to_str()
            .expect("ascii");
        assert!(disposition.starts_with("attachment;"), "{disposition}");
        assert_eq!(download.headers["x-content-type-options"], "nosniff");
        // Not for strangers.
        let stranger = Browser::new(&desk.server.base);
        assert_eq!(stranger.get(&link).await.status, StatusCode::SEE_OTHER);
        desk.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_mail_becomes_a_ticket_and_failed_notifications_are_retried() {
    for backend in backends() {
        let desk = Desk::open(TestDb::create(backend).await, |_| {}).await;
        // An out-of-office reply that a person actually wrote a request into.
        let raw = customer_email(
            "ooo-1",
            "busy@example.com",
            "Automatic reply: invoice",
            "Auto-Submitted: auto-replied\r\n",
        );
        assert_eq!(desk.import(&raw).await, None, "ignored at first");
        let browser = Browser::new(&desk.server.base);
        browser.login("sara@peyk.example", PASSWORD).await;
        let page = browser.get("/inbound").await;
        assert_eq!(page.status, StatusCode::OK, "{backend:?}");
        assert!(page.body.contains("busy@example.com"));
        let receipt = inbound_receipt::Entity::find()
            .filter(inbound_receipt::Column::ExternalId.eq("ooo-1@customer.example"))
            .one(desk.store.db())
            .await
            .expect("query")
            .expect("receipt");
        assert_eq!(receipt.outcome, "ignored");
        assert!(
            page.body
                .contains(&format!("action=\"/inbound/{}/ticket\"", receipt.id))
        );
        let made = browser
            .post(
                &format!("/inbound/{}/ticket", receipt.id),
                &[("csrf_token", &page.hidden("csrf_token"))],
            )
            .await;
        assert_eq!(made.status, StatusCode::SEE_OTHER);
        let location = made.location.expect("to the ticket");
        assert!(location.starts_with("/tickets/"), "{location}");
        let receipt = inbound_receipt::Entity::find()
            .filter(inbound_receipt::Column::ExternalId.eq("ooo-1@customer.example"))
            .one(desk.store.db())
            .await
            .expect("query")
            .expect("receipt");
        assert_eq!(receipt.outcome, "new_ticket");
        assert!(receipt.ticket_id.is_some());
        let ticket_page = browser.get(&location).await;
        assert!(
            ticket_page
                .body
                .contains("Please help with Automatic reply: invoice")
        );

        // A notification that failed: the outbox page offers retry, which queues it again.
        let number = location
            .trim_start_matches("/tickets/")
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string();
        let ticket_row = store::tickets::find_by_number(desk.store.db(), &number)
            .await
            .expect("query")
            .expect("ticket");
        let items = outbox_item::Entity::find()
            .filter(outbox_item::Column::TicketId.eq(ticket_row.id))
            .all(desk.store.db())
            .await
            .expect("outbox");
        let item = items.first().expect("an acknowledgement").clone();
        outbox_item::Entity::update_many()
            .col_expr(
                outbox_item::Column::Status,
                sea_orm::sea_query::Expr::value("failed"),
            )
            .col_expr(
                outbox_item::Column::LastError,
                sea_orm::sea_query::Expr::value("550 mailbox unavailable"),
            )
            .filter(outbox_item::Column::Id.eq(item.id))
            .exec(desk.store.db())
            .await
            .expect("fail it");
        let page = browser.get("/outbox?status=failed").await;
        assert!(page.body.contains("550 mailbox unavailable"));
        let metrics = Browser::new(&desk.server.base).get("/metrics").await.body;
        assert!(
            metrics.contains("peyk_outbox_items{status=\"failed\"} 1"),
            "{metrics}"
        );
        let retried = browser
            .post(
                &format!("/outbox/{}/retry", item.id),
                &[("csrf_token", &page.hidden("csrf_token"))],
            )
            .await;
        assert_eq!(retried.status, StatusCode::SEE_OTHER);
        let status = outbox_item::Entity::find_by_id(item.id)
            .one(desk.store.db())
            .await
            .expect("query")
            .expect("item")
            .status;
        assert!(status == "pending" || status == "sent", "{status}");
        // Retrying what is not failed is refused.
        let again = browser
            .post(
                &format!("/outbox/{}/retry", item.id),
                &[("csrf_token", &page.hidden("csrf_token"))],
            )
            .await;
        assert_eq!(again.status, StatusCode::BAD_REQUEST);
        desk.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_manages_agents_departments_and_prepared_answers_in_both_languages() {
    for backend in backends() {
        let desk = Desk::open(TestDb::create(backend).await, |s| {
            s.app.default_language = peyk::domain::ticket::Language::Fa;
        })
        .await;
        let number = desk
            .import(&customer_email("adm-1", "cust@example.com", "Billing", ""))
            .await
            .expect("ticket");
        let sara = Browser::new(&desk.server.base);
        sara.login("sara@peyk.example", PASSWORD).await;
        assert_eq!(sara.get("/admin").await.status, StatusCode::FORBIDDEN);
        // Persian by default: right to left, Persian digits.
        let queue = sara.get("/queue").await;
        assert!(
            queue.body.contains("<html lang=\"fa\" dir=\"rtl\">"),
            "{backend:?}"
        );
        let persian_number = peyk::domain::digits::to_persian_digits(&number);
        assert!(queue.body.contains(&persian_number));
        // Search by the number in Persian digits finds it.
        let found = sara
            .get(&format!(
                "/queue?q={}",
                form_urlencoded::byte_serialize(persian_number.as_bytes()).collect::<String>()
            ))
            .await;
        assert!(found.body.contains(&format!("data-number=\"{number}\"")));
        // Switching to English.
        let switched = sara
            .post(
                "/preferences",
                &[
                    ("csrf_token", &queue.hidden("csrf_token")),
                    ("language", "en"),
                ],
            )
            .await;
        assert_eq!(switched.status, StatusCode::SEE_OTHER);
        let queue = sara.get("/queue").await;
        assert!(queue.body.contains("<html lang=\"en\" dir=\"ltr\">"));

        let admin = Browser::new(&desk.server.base);
        admin.login("admin@peyk.example", PASSWORD).await;
        let page = admin.get("/admin").await;
        assert_eq!(page.status, StatusCode::OK);
        let csrf = page.hidden("csrf_token");
        let created = admin
            .post(
                "/admin/agents",
                &[
                    ("csrf_token", &csrf),
                    ("email", "reza@peyk.example"),
                    ("name", "Reza"),
                    ("password", "another long password"),
                    ("language", "en"),
                ],
            )
            .await;
        assert_eq!(created.status, StatusCode::SEE_OTHER);
        let short = admin
            .post(
                "/admin/agents",
                &[
                    ("csrf_token", &csrf),
                    ("email", "x@peyk.example"),
                    ("name", "X"),
                    ("password", "short"),
                ],
            )
            .await;
        assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(short.body.contains("at least 10"));
        let reza = Browser::new(&desk.server.base);
        assert_eq!(
            reza.login("reza@peyk.example", "another long password")
                .await
                .status,
            StatusCode::SEE_OTHER
        );
        assert!(reza.get("/queue").await.body.contains("dir=\"ltr\""));
        admin
            .post(
                "/admin/departments",
                &[
                    ("csrf_token", &csrf),
                    ("key", "finance"),
                    ("name", "مالی و حسابداری"),
                ],
            )
            .await;
        admin
            .post(
                "/admin/canned",
                &[
                    ("csrf_token", &csrf),
                    ("title", "Restart"),
                    ("body", "Please restart your modem and wait two minutes."),
                ],
            )
            .await;
        let ticket_page = admin.get(&format!("/tickets/{number}")).await;
        assert!(ticket_page.body.contains("id=\"canned-picker\""));
        assert!(
            ticket_page
                .body
                .contains("Please restart your modem and wait two minutes.")
        );
        assert!(ticket_page.body.contains("مالی و حسابداری"));
        let moved = admin
            .post(
                &format!("/tickets/{number}/update"),
                &[("csrf_token", &csrf), ("department", "finance")],
            )
            .await;
        assert_eq!(moved.status, StatusCode::SEE_OTHER);
        let finance = admin.get("/queue?department=finance").await;
        assert!(finance.body.contains(&format!("data-number=\"{number}\"")));
        let stored = ticket::Entity::find()
            .filter(ticket::Column::Number.eq(number.as_str()))
            .one(desk.store.db())
            .await
            .expect("query")
            .expect("ticket");
        assert!(stored.department_id.is_some());

        // Deactivating an agent ends their sessions.
        let reza_id = store::agents::find_by_email(desk.store.db(), "reza@peyk.example")
            .await
            .expect("query")
            .expect("reza")
            .id;
        let off = admin
            .post(
                &format!("/admin/agents/{reza_id}/active"),
                &[("csrf_token", &csrf), ("active", "0")],
            )
            .await;
        assert_eq!(off.status, StatusCode::SEE_OTHER);
        assert_eq!(reza.get("/queue").await.status, StatusCode::SEE_OTHER);
        desk.close().await;
    }
}
