//! Notifications: what was sent, what failed or was given up, with retry.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::{Choice, Chrome, PageError, PageFailure, Paging, filter_tabs, query_string, see_other};
use crate::store::{self, queue};
use crate::web::WebState;
use crate::web::auth::PageAgent;

const PER_PAGE: u64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct OutboxQuery {
    status: Option<String>,
    page: Option<u64>,
    notice: Option<String>,
}

pub struct OutboxLine {
    pub id: i64,
    pub status_code: String,
    pub status: String,
    pub kind: String,
    pub channel: String,
    pub recipient: String,
    pub ticket_number: String,
    pub ticket_shown: String,
    pub attempts: String,
    pub error: String,
    pub created: String,
    pub retryable: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/outbox.html")]
pub struct OutboxPage {
    chrome: Chrome,
    tabs: Vec<Choice>,
    rows: Vec<OutboxLine>,
    total: String,
    paging: Paging,
}

/// The statuses the page offers; the first is the default.
const STATUSES: [&str; 5] = ["failed", "dead", "pending", "sent", "all"];

pub async fn page(
    State(state): State<WebState>,
    agent: PageAgent,
    Query(query): Query<OutboxQuery>,
) -> Result<OutboxPage, PageFailure> {
    let chrome = Chrome::new(&state, &agent.0, "outbox").with_notice(query.notice.as_deref());
    let fail = |error: PageError| PageFailure {
        error,
        chrome: Box::new(chrome.clone()),
    };
    let status = query
        .status
        .as_deref()
        .filter(|s| STATUSES.contains(s))
        .unwrap_or(STATUSES[0]);
    let found = queue::list_outbox(
        state.store.db(),
        (status != "all").then_some(status),
        query.page.unwrap_or(1),
        PER_PAGE,
    )
    .await
    .map_err(|e| fail(e.into()))?;
    let rows = found
        .rows
        .iter()
        .map(|row| {
            let item = &row.item;
            OutboxLine {
                id: item.id,
                status_code: item.status.clone(),
                status: chrome.label(&item.status),
                kind: chrome.label(&item.kind),
                channel: chrome.label(&item.channel),
                recipient: item.recipient.clone(),
                ticket_shown: chrome.digits(&row.ticket_number),
                ticket_number: row.ticket_number.clone(),
                attempts: chrome.digits(&item.attempts.to_string()),
                error: item.last_error.clone().unwrap_or_default(),
                created: chrome.when(&item.created_at),
                retryable: item.status == "failed" || item.status == "dead",
            }
        })
        .collect();
    let tabs = filter_tabs(&chrome, &STATUSES, status);
    let base = format!("/outbox?{}", query_string(&[("status", status)]));
    let paging = Paging::new(&base, query.page.unwrap_or(1), PER_PAGE, found.total);
    let total = chrome.count(found.total);
    let chrome = chrome.clone().titled(chrome.t.outbox_title);
    Ok(OutboxPage {
        chrome,
        tabs,
        rows,
        total,
        paging,
    })
}

pub async fn retry(
    State(state): State<WebState>,
    agent: PageAgent,
    Path(id): Path<i64>,
) -> Result<Response, PageFailure> {
    let chrome = Chrome::new(&state, &agent.0, "outbox");
    let requeued = store::outbox::requeue(state.store.db(), id, state.clock.now())
        .await
        .map_err(|e| PageFailure {
            error: e.into(),
            chrome: Box::new(chrome.clone()),
        })?;
    if !requeued {
        return Err(PageFailure {
            error: PageError::BadRequest(format!(
                "notification {id} is not failed or dead (it may have been retried already)"
            )),
            chrome: Box::new(chrome),
        });
    }
    tracing::info!(
        outbox = id,
        agent = agent.0.agent.id,
        "notification queued again by an agent"
    );
    state.intake.outbox_wakeup().notify_one();
    Ok(see_other("/outbox?status=pending", "requeued"))
}
