//! Inbound receipts that made no ticket (ignored, held, failed, bounced), with "make it a
//! ticket" for ignored mail and retry for dead letters.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::{Choice, Chrome, PageError, PageFailure, Paging, filter_tabs, query_string, see_other};
use crate::intake::IntakeOutcome;
use crate::service::inbound::{ReceiptActionError, make_ticket_of_receipt, retry_one_dead_letter};
use crate::store::queue;
use crate::web::WebState;
use crate::web::auth::PageAgent;

const PER_PAGE: u64 = 50;

/// The outcomes the page offers; the first is the default.
const OUTCOMES: [&str; 6] = ["ignored", "error", "bounce", "new_ticket", "reply", "all"];

#[derive(Debug, Default, Deserialize)]
pub struct InboundQuery {
    outcome: Option<String>,
    page: Option<u64>,
    notice: Option<String>,
}

pub struct ReceiptLine {
    pub id: i64,
    pub outcome_code: String,
    pub outcome: String,
    pub reason: String,
    pub source: String,
    pub sender: String,
    pub subject: String,
    pub received: String,
    pub ticket_number: String,
    pub ticket_shown: String,
    pub can_make_ticket: bool,
    pub can_retry: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/inbound.html")]
pub struct InboundPage {
    chrome: Chrome,
    tabs: Vec<Choice>,
    rows: Vec<ReceiptLine>,
    total: String,
    paging: Paging,
}

pub async fn page(
    State(state): State<WebState>,
    agent: PageAgent,
    Query(query): Query<InboundQuery>,
) -> Result<InboundPage, PageFailure> {
    let chrome = Chrome::new(&state, &agent.0, "inbound").with_notice(query.notice.as_deref());
    let fail = |error: PageError| PageFailure {
        error,
        chrome: Box::new(chrome.clone()),
    };
    let outcome = query
        .outcome
        .as_deref()
        .filter(|o| OUTCOMES.contains(o))
        .unwrap_or(OUTCOMES[0]);
    let found = queue::list_receipts(
        state.store.db(),
        (outcome != "all").then_some(outcome),
        query.page.unwrap_or(1),
        PER_PAGE,
    )
    .await
    .map_err(|e| fail(e.into()))?;
    let rows = found
        .rows
        .iter()
        .map(|r| {
            let kept_email = r.has_raw_source == 1 && r.channel == "email";
            ReceiptLine {
                id: r.id,
                outcome_code: r.outcome.clone(),
                outcome: chrome.label(&r.outcome),
                reason: r
                    .reason
                    .as_deref()
                    .map(|reason| chrome.label(reason))
                    .or_else(|| {
                        r.bounce_status.as_ref().map(|status| {
                            format!(
                                "{status} {}",
                                r.bounced_recipient.as_deref().unwrap_or_default()
                            )
                        })
                    })
                    .unwrap_or_default(),
                source: r.source.clone(),
                sender: r.sender.clone().unwrap_or_default(),
                subject: r.subject.clone().unwrap_or_default(),
                received: chrome.when(&r.received_at),
                ticket_shown: r
                    .ticket_number
                    .as_deref()
                    .map(|n| chrome.digits(n))
                    .unwrap_or_default(),
                ticket_number: r.ticket_number.clone().unwrap_or_default(),
                can_make_ticket: kept_email && r.outcome == IntakeOutcome::Ignored.as_str(),
                can_retry: kept_email && r.outcome == IntakeOutcome::Error.as_str(),
            }
        })
        .collect();
    let tabs = filter_tabs(&chrome, &OUTCOMES, outcome);
    let base = format!("/inbound?{}", query_string(&[("outcome", outcome)]));
    let paging = Paging::new(&base, query.page.unwrap_or(1), PER_PAGE, found.total);
    let total = chrome.count(found.total);
    let chrome = chrome.clone().titled(chrome.t.inbound_title);
    Ok(InboundPage {
        chrome,
        tabs,
        rows,
        total,
        paging,
    })
}

fn department_of(state: &WebState) -> impl Fn(&str) -> Option<String> + '_ {
    |source: &str| {
        state
            .settings
            .mailboxes
            .iter()
            .find(|m| m.key == source)
            .and_then(|m| m.department.clone())
    }
}

fn action_failure(chrome: Chrome, error: ReceiptActionError) -> PageFailure {
    let error = match error {
        ReceiptActionError::NotFound(_) => PageError::NotFound,
        ReceiptActionError::NotApplicable(why) => PageError::BadRequest(why),
        ReceiptActionError::Intake(cause) => PageError::Internal(cause.to_string()),
    };
    PageFailure {
        error,
        chrome: Box::new(chrome),
    }
}

pub async fn make_ticket(
    State(state): State<WebState>,
    agent: PageAgent,
    Path(id): Path<i64>,
) -> Result<Response, PageFailure> {
    let chrome = Chrome::new(&state, &agent.0, "inbound");
    let result = make_ticket_of_receipt(
        &state.intake,
        state.clock.as_ref(),
        id,
        &agent.0.agent.name,
        department_of(&state),
        state.settings.app.attachment_max_bytes,
    )
    .await
    .map_err(|e| action_failure(chrome, e))?;
    tracing::info!(
        receipt = id,
        agent = agent.0.agent.id,
        outcome = result.outcome.as_str(),
        "ignored message made a ticket by an agent"
    );
    Ok(match result.ticket_number {
        Some(number) => see_other(&format!("/tickets/{number}"), "made_ticket"),
        None => see_other("/inbound?outcome=all", "retried"),
    })
}

pub async fn retry(
    State(state): State<WebState>,
    agent: PageAgent,
    Path(id): Path<i64>,
) -> Result<Response, PageFailure> {
    let chrome = Chrome::new(&state, &agent.0, "inbound");
    let result = retry_one_dead_letter(
        &state.intake,
        state.clock.as_ref(),
        id,
        department_of(&state),
        state.settings.app.attachment_max_bytes,
    )
    .await
    .map_err(|e| action_failure(chrome, e))?;
    tracing::info!(
        receipt = id,
        agent = agent.0.agent.id,
        outcome = result.outcome.as_str(),
        "dead letter retried by an agent"
    );
    Ok(match result.ticket_number {
        Some(number) => see_other(&format!("/tickets/{number}"), "retried"),
        None => see_other(
            &format!("/inbound?outcome={}", result.outcome.as_str()),
            "retried",
        ),
    })
}
