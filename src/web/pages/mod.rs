//! The agent web view: server-rendered pages (askama), one small script, no framework.
//! Every page request passes [`super::auth::page_gate`] (session, CSRF) first.

mod admin;
mod inbound;
mod login;
mod outbox;
mod queue;
mod ticket;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};

use super::WebState;
use super::auth::SignedIn;
use super::i18n::{Texts, texts};
use crate::domain::jalali;
use crate::domain::ticket::Language;
use crate::store::DbErr;

/// The page routes (the gate is layered on by [`super::router`]).
pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/queue") }))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/preferences", post(login::preferences))
        .route("/queue", get(queue::page))
        .route("/tickets/{number}", get(ticket::page))
        .route("/tickets/{number}/reply", post(ticket::reply))
        .route("/tickets/{number}/update", post(ticket::update))
        .route("/attachments/{id}", get(ticket::attachment))
        .route("/inbound", get(inbound::page))
        .route("/inbound/{id}/ticket", post(inbound::make_ticket))
        .route("/inbound/{id}/retry", post(inbound::retry))
        .route("/outbox", get(outbox::page))
        .route("/outbox/{id}/retry", post(outbox::retry))
        .route("/admin", get(admin::page))
        .route("/admin/agents", post(admin::add_agent))
        .route("/admin/agents/{id}/active", post(admin::set_agent_active))
        .route("/admin/departments", post(admin::add_department))
        .route("/admin/canned", post(admin::add_canned))
        .route("/admin/canned/{id}/delete", post(admin::delete_canned))
        .route("/static/peyk.css", get(stylesheet))
        .route("/static/peyk.js", get(script))
}

/// What the layout needs on every page.
#[derive(Clone)]
pub struct Chrome {
    pub t: &'static Texts,
    pub language: Language,
    /// `fa` or `en`.
    pub lang: &'static str,
    /// `rtl` or `ltr`.
    pub dir: &'static str,
    pub title: String,
    pub agent_name: String,
    pub is_admin: bool,
    pub csrf_token: String,
    /// Which navigation entry is current.
    pub section: &'static str,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub tz: chrono_tz::Tz,
}

impl Chrome {
    pub fn new(state: &WebState, signed_in: &SignedIn, section: &'static str) -> Self {
        let language = agent_language(state, signed_in.agent.language.as_deref());
        let mut chrome = Self::anonymous(state, language);
        chrome.agent_name = signed_in.agent.name.clone();
        chrome.is_admin = signed_in.is_admin();
        chrome.csrf_token = signed_in.csrf_token.clone();
        chrome.section = section;
        chrome
    }

    pub fn anonymous(state: &WebState, language: Language) -> Self {
        Self {
            t: texts(language),
            language,
            lang: language.as_str(),
            dir: if language == Language::Fa {
                "rtl"
            } else {
                "ltr"
            },
            title: String::new(),
            agent_name: String::new(),
            is_admin: false,
            csrf_token: String::new(),
            section: "",
            notice: None,
            error: None,
            tz: state
                .settings
                .app
                .timezone
                .parse()
                .unwrap_or(chrono_tz::Asia::Tehran),
        }
    }

    pub fn titled(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// A time as this agent reads it (Jalali for Persian, in the configured time zone).
    pub fn when(&self, at: &DateTime<Utc>) -> String {
        jalali::format_datetime(*at, self.tz, self.language)
    }

    /// Digits as this agent reads them.
    pub fn digits(&self, text: &str) -> String {
        match self.language {
            Language::Fa => crate::domain::digits::to_persian_digits(text),
            Language::En => text.to_string(),
        }
    }

    pub fn count(&self, n: u64) -> String {
        jalali::format_number(n, self.language)
    }

    pub fn label(&self, code: &str) -> String {
        super::i18n::label(code, self.language)
    }

    /// Sets the notice from a `notice` query code set by a redirect after a form.
    pub fn with_notice(mut self, code: Option<&str>) -> Self {
        self.notice = code.and_then(|code| {
            let text = match code {
                "replied" => self.t.replied,
                "noted" => self.t.noted,
                "updated" => self.t.updated_notice,
                "made_ticket" => self.t.made_ticket,
                "retried" => self.t.retried,
                "requeued" => self.t.requeued,
                "saved" => self.t.saved,
                "no_route" => self.t.no_route,
                _ => return None,
            };
            Some(text.to_string())
        });
        self
    }
}

/// The agent's language, else the configured default.
pub fn agent_language(state: &WebState, agent_language: Option<&str>) -> Language {
    agent_language
        .and_then(Language::parse)
        .unwrap_or(state.settings.app.default_language)
}

#[derive(Template, WebTemplate)]
#[template(path = "web/message.html")]
struct MessagePage {
    chrome: Chrome,
    heading: String,
    text: String,
    back: Option<String>,
}

/// A page that says one thing, with a status.
pub fn message_page(
    chrome: Chrome,
    status: StatusCode,
    heading: &str,
    text: &str,
    back: Option<String>,
) -> Response {
    let page = MessagePage {
        chrome: chrome.titled(heading),
        heading: heading.to_string(),
        text: text.to_string(),
        back,
    };
    (status, page).into_response()
}

/// The 403 for a form without its CSRF token: nothing was done.
pub fn csrf_refused(state: &WebState, signed_in: &SignedIn) -> Response {
    let chrome = Chrome::new(state, signed_in, "");
    let (heading, text) = (chrome.t.csrf_title, chrome.t.csrf_text);
    message_page(chrome, StatusCode::FORBIDDEN, heading, text, None)
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum PageError {
    NotFound,
    Forbidden,
    BadRequest(String),
    Internal(String),
}

impl From<DbErr> for PageError {
    fn from(error: DbErr) -> Self {
        PageError::Internal(error.to_string())
    }
}

/// A page error rendered in the agent's language.
pub struct PageFailure {
    pub error: PageError,
    pub chrome: Box<Chrome>,
}

impl IntoResponse for PageFailure {
    fn into_response(self) -> Response {
        let t = self.chrome.t;
        match self.error {
            PageError::NotFound => message_page(
                *self.chrome,
                StatusCode::NOT_FOUND,
                t.not_found,
                t.not_found,
                Some("/queue".into()),
            ),
            PageError::Forbidden => message_page(
                *self.chrome,
                StatusCode::FORBIDDEN,
                t.forbidden,
                t.forbidden,
                Some("/queue".into()),
            ),
            PageError::BadRequest(text) => message_page(
                *self.chrome,
                StatusCode::BAD_REQUEST,
                t.error_title,
                &text,
                None,
            ),
            PageError::Internal(cause) => {
                tracing::error!(%cause, "page failed");
                message_page(
                    *self.chrome,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    t.error_title,
                    t.error_title,
                    None,
                )
            }
        }
    }
}

/// 303 to `path` with a notice code.
pub fn see_other(path: &str, notice: &str) -> Response {
    let separator = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{separator}notice={notice}")).into_response()
}

/// One option of a select or one tab of a filter.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// Options from `(value, label)` pairs, the one equal to `current` selected.
pub fn choices(options: Vec<(String, String)>, current: &str) -> Vec<Choice> {
    options
        .into_iter()
        .map(|(value, label)| Choice {
            selected: value == current,
            value,
            label,
        })
        .collect()
}

/// The filter tabs of a list page: each code labelled in the agent's language, `all` as
/// "all statuses".
pub fn filter_tabs(chrome: &Chrome, codes: &[&str], current: &str) -> Vec<Choice> {
    choices(
        codes
            .iter()
            .map(|code| {
                let label = if *code == "all" {
                    chrome.t.all_statuses.to_string()
                } else {
                    chrome.label(code)
                };
                (code.to_string(), label)
            })
            .collect(),
        current,
    )
}

/// Numbers of a paged list.
pub struct Paging {
    pub page: u64,
    pub pages: u64,
    pub prev_link: Option<String>,
    pub next_link: Option<String>,
}

impl Paging {
    /// `base` is the list's path with its filters as a query string (without `page`).
    pub fn new(base: &str, page: u64, per_page: u64, total: u64) -> Self {
        let pages = total.div_ceil(per_page.max(1)).max(1);
        let page = page.clamp(1, pages);
        let link = |p: u64| {
            let separator = if base.contains('?') { '&' } else { '?' };
            format!("{base}{separator}page={p}")
        };
        Self {
            page,
            pages,
            prev_link: (page > 1).then(|| link(page - 1)),
            next_link: (page < pages).then(|| link(page + 1)),
        }
    }
}

/// A query string from the non-empty pairs.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        if !value.is_empty() {
            serializer.append_pair(key, value);
        }
    }
    serializer.finish()
}

async fn stylesheet() -> Response {
    static_file(
        include_str!("../../../static/peyk.css"),
        "text/css; charset=utf-8",
    )
}

async fn script() -> Response {
    static_file(
        include_str!("../../../static/peyk.js"),
        "text/javascript; charset=utf-8",
    )
}

fn static_file(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body,
    )
        .into_response()
}
