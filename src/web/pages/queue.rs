//! The queue: waiting tickets, longest-waiting first, with filters, search and pages.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::{Choice, Chrome, PageError, PageFailure, Paging, choices, query_string};
use crate::domain::jalali::format_relative_wait;
use crate::domain::ticket::Priority;
use crate::store::queue::{self, AssigneeFilter, StatusFilter, TicketFilter};
use crate::web::WebState;
use crate::web::auth::PageAgent;

/// Tickets per queue page.
const PER_PAGE: u64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct QueueQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    q: String,
    page: Option<u64>,
    notice: Option<String>,
}

pub struct QueueRow {
    pub number: String,
    pub number_shown: String,
    pub subject: String,
    pub customer: String,
    pub status: String,
    pub status_code: String,
    pub priority: String,
    pub priority_code: String,
    pub department: String,
    pub assignee: String,
    pub channel: String,
    pub waited: String,
    pub updated: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/queue.html")]
pub struct QueuePage {
    chrome: Chrome,
    statuses: Vec<Choice>,
    departments: Vec<Choice>,
    priorities: Vec<Choice>,
    assignees: Vec<Choice>,
    q: String,
    rows: Vec<QueueRow>,
    total: String,
    paging: Paging,
}

pub async fn page(
    State(state): State<WebState>,
    agent: PageAgent,
    Query(query): Query<QueueQuery>,
) -> Result<QueuePage, PageFailure> {
    let chrome = Chrome::new(&state, &agent.0, "queue").with_notice(query.notice.as_deref());
    let failure = |error: PageError| PageFailure {
        error,
        chrome: Box::new(Chrome::new(&state, &agent.0, "queue")),
    };
    // A search looks at every status unless one is picked: an agent looking up a number
    // wants that ticket whatever its state.
    let status = StatusFilter::parse(&query.status).unwrap_or(if query.q.trim().is_empty() {
        StatusFilter::Waiting
    } else {
        StatusFilter::All
    });
    let priority = Priority::parse(&query.priority);
    let assignee = match query.assignee.as_str() {
        "mine" => AssigneeFilter::Agent(agent.0.agent.id),
        "unassigned" => AssigneeFilter::Unassigned,
        _ => AssigneeFilter::All,
    };
    let department = Some(query.department.trim())
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    let search = Some(query.q.trim())
        .filter(|q| !q.is_empty())
        .map(str::to_string);
    let db = state.store.db();
    let filter = TicketFilter {
        status,
        department: department.clone(),
        priority,
        assignee,
        query: search.clone(),
        page: query.page.unwrap_or(1).max(1),
        per_page: PER_PAGE,
        phone_region: state.settings.sms.default_region.clone(),
        ..Default::default()
    };
    let found = queue::list_tickets(db, &filter)
        .await
        .map_err(|e| failure(e.into()))?;
    let departments = crate::store::catalog::departments(db)
        .await
        .map_err(|e| failure(e.into()))?;
    let now = state.clock.now();
    let t = chrome.t;
    let rows = found
        .rows
        .iter()
        .map(|row| {
            let ticket = &row.ticket;
            let customer = row
                .customer
                .name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .or_else(|| row.customer.email.clone())
                .or_else(|| row.customer.phone.clone())
                .unwrap_or_default();
            QueueRow {
                number: ticket.number.clone(),
                number_shown: chrome.digits(&ticket.number),
                subject: ticket.subject.clone(),
                customer,
                status: chrome.label(&ticket.status),
                status_code: ticket.status.clone(),
                priority: chrome.label(&ticket.priority),
                priority_code: ticket.priority.clone(),
                department: row
                    .department
                    .as_ref()
                    .map(|d| d.name.clone())
                    .unwrap_or_default(),
                assignee: row
                    .assignee
                    .as_ref()
                    .map(|a| a.name.clone())
                    .unwrap_or_default(),
                channel: chrome.label(&ticket.channel),
                waited: ticket
                    .waiting_since
                    .map(|since| format_relative_wait(since, now, chrome.language))
                    .unwrap_or_default(),
                updated: chrome.when(&ticket.updated_at),
            }
        })
        .collect();
    let statuses = choices(
        [
            ("waiting".to_string(), t.waiting.to_string()),
            ("all".to_string(), t.all_statuses.to_string()),
        ]
        .into_iter()
        .chain(
            ["open", "in_progress", "answered", "closed"]
                .iter()
                .map(|s| (s.to_string(), chrome.label(s))),
        )
        .collect(),
        status.as_str(),
    );
    let priorities = choices(
        std::iter::once((String::new(), t.any.to_string()))
            .chain(
                ["low", "normal", "high", "urgent"]
                    .iter()
                    .map(|p| (p.to_string(), chrome.label(p))),
            )
            .collect(),
        priority.map(|p| p.as_str()).unwrap_or(""),
    );
    let departments = choices(
        std::iter::once((String::new(), t.any.to_string()))
            .chain(departments.into_iter().map(|d| (d.key, d.name)))
            .collect(),
        department.as_deref().unwrap_or(""),
    );
    let assignee_value = match assignee {
        AssigneeFilter::Agent(_) => "mine",
        AssigneeFilter::Unassigned => "unassigned",
        AssigneeFilter::All => "all",
    };
    let assignees = choices(
        vec![
            ("all".into(), t.everyone.into()),
            ("mine".into(), t.mine.into()),
            ("unassigned".into(), t.unassigned.into()),
        ],
        assignee_value,
    );
    let base = format!(
        "/queue?{}",
        query_string(&[
            ("status", status.as_str()),
            ("department", department.as_deref().unwrap_or("")),
            ("priority", priority.map(|p| p.as_str()).unwrap_or("")),
            ("assignee", assignee_value),
            ("q", search.as_deref().unwrap_or("")),
        ])
    );
    let paging = Paging::new(&base, found.page, found.per_page, found.total);
    let total = if found.total_is_capped {
        format!("{}+", chrome.count(found.total))
    } else {
        chrome.count(found.total)
    };
    let chrome = chrome.titled(t.queue_title);
    Ok(QueuePage {
        chrome,
        statuses,
        departments,
        priorities,
        assignees,
        q: search.unwrap_or_default(),
        rows,
        total,
        paging,
    })
}
