//! One ticket: the whole thread, the customer's other tickets, reply and note, changes.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Choice, Chrome, PageError, PageFailure, choices, see_other};
use crate::domain::jalali::format_relative_wait;
use crate::domain::ticket::{Direction, Priority, TicketStatus};
use crate::service::replies::{ReplyError, ReplyRules, reply_to_ticket};
use crate::service::tickets::{
    ThreadEntry, TicketChanges, answered_by_someone_else_since, update_ticket,
};
use crate::store::{self, queue};
use crate::web::WebState;
use crate::web::auth::PageAgent;
use crate::web::download::{DownloadRefusal, attachment_response};

pub struct AttachmentLink {
    pub id: i64,
    pub filename: String,
    pub size: String,
    pub refused: bool,
    pub reason: String,
}

pub struct DeliveryView {
    pub status_code: String,
    pub status: String,
    pub channel: String,
    pub kind: String,
    pub recipient: String,
    pub attempts: String,
    pub error: String,
    pub when: String,
}

pub struct ThreadItem {
    pub id: i64,
    pub direction_code: String,
    pub direction: String,
    pub channel_code: String,
    pub channel: String,
    pub author: String,
    pub when: String,
    pub body: String,
    pub quoted: Option<String>,
    /// Sanitized with ammonia: no script, no event handlers, no javascript: links.
    pub html: Option<String>,
    pub attachments: Vec<AttachmentLink>,
    pub deliveries: Vec<DeliveryView>,
}

pub struct OtherTicket {
    pub number: String,
    pub number_shown: String,
    pub subject: String,
    pub status: String,
    pub created: String,
}

pub struct CannedOption {
    pub title: String,
    pub body: String,
}

pub struct EventView {
    pub when: String,
    pub text: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/ticket.html")]
pub struct TicketPage {
    chrome: Chrome,
    number: String,
    number_shown: String,
    subject: String,
    status: String,
    status_code: String,
    priority: String,
    department: String,
    assignee: String,
    channel: String,
    customer_name: String,
    customer_email: String,
    customer_phone: String,
    created: String,
    waited: String,
    reply_route: String,
    thread: Vec<ThreadItem>,
    notifications: Vec<DeliveryView>,
    other_tickets: Vec<OtherTicket>,
    events: Vec<EventView>,
    canned: Vec<CannedOption>,
    statuses: Vec<Choice>,
    priorities: Vec<Choice>,
    departments: Vec<Choice>,
    assignees: Vec<Choice>,
    seen_message_id: i64,
    draft: String,
    draft_internal: bool,
    collision: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

fn sanitize_html(html: &str) -> String {
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(html)
        .to_string()
}

fn human_size(bytes: i64) -> String {
    let bytes = bytes.max(0) as f64;
    if bytes >= 1024.0 * 1024.0 {
        format!("{:.1} MB", bytes / (1024.0 * 1024.0))
    } else if bytes >= 1024.0 {
        format!("{:.0} KB", bytes / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

fn delivery_view(chrome: &Chrome, item: &store::outbox::OutboxItem) -> DeliveryView {
    DeliveryView {
        status_code: item.status.clone(),
        status: chrome.label(&item.status),
        channel: chrome.label(&item.channel),
        kind: chrome.label(&item.kind),
        recipient: item.recipient.clone(),
        attempts: chrome.digits(&item.attempts.to_string()),
        error: item.last_error.clone().unwrap_or_default(),
        when: chrome.when(&item.sent_at.unwrap_or(item.created_at)),
    }
}

/// What the reply form shows back when a reply is held or refused.
#[derive(Default)]
struct Draft {
    text: String,
    internal: bool,
    collision: bool,
    error: Option<String>,
}

async fn render(
    state: &WebState,
    agent: &PageAgent,
    number: &str,
    notice: Option<&str>,
    draft: Draft,
) -> Result<TicketPage, PageError> {
    let db = state.store.db();
    let detail = queue::ticket_detail(db, number)
        .await?
        .ok_or(PageError::NotFound)?;
    let mut chrome = Chrome::new(state, &agent.0, "queue").with_notice(notice);
    chrome.error = draft.error.clone();
    let t = chrome.t;
    let ticket = &detail.ticket;
    let now = state.clock.now();
    let thread = detail
        .messages
        .iter()
        .map(|entry| {
            let m = &entry.message;
            ThreadItem {
                id: m.id,
                direction_code: m.direction.clone(),
                direction: chrome.label(&m.direction),
                channel_code: m.channel.clone(),
                channel: chrome.label(&m.channel),
                author: m.author.clone().unwrap_or_default(),
                when: chrome.when(&m.created_at),
                body: m.body_text.clone(),
                quoted: m.quoted_text.clone().filter(|q| !q.trim().is_empty()),
                html: m
                    .body_html
                    .as_deref()
                    .filter(|_| m.direction == Direction::Inbound.as_str())
                    .map(sanitize_html)
                    .filter(|h| !h.trim().is_empty()),
                attachments: entry
                    .attachments
                    .iter()
                    .map(|a| AttachmentLink {
                        id: a.id,
                        filename: a.filename.clone(),
                        size: chrome.digits(&human_size(a.size)),
                        refused: a.refused,
                        reason: a.refused_reason.clone().unwrap_or_default(),
                    })
                    .collect(),
                deliveries: detail
                    .deliveries_of(m.id)
                    .map(|o| delivery_view(&chrome, o))
                    .collect(),
            }
        })
        .collect();
    let notifications = detail
        .outbox
        .iter()
        .filter(|o| o.ticket_message_id.is_none())
        .map(|o| delivery_view(&chrome, o))
        .collect();
    let other_tickets = detail
        .other_tickets
        .iter()
        .map(|o| OtherTicket {
            number: o.number.clone(),
            number_shown: chrome.digits(&o.number),
            subject: o.subject.clone(),
            status: chrome.label(&o.status),
            created: chrome.when(&o.created_at),
        })
        .collect();
    let events = detail
        .events
        .iter()
        .map(|e| EventView {
            when: chrome.when(&e.created_at),
            text: format!(
                "{} · {}: {} → {}",
                chrome.label(&e.actor),
                chrome.label(&e.kind),
                e.old_value
                    .as_deref()
                    .map(|v| chrome.label(v))
                    .unwrap_or_else(|| "—".into()),
                e.new_value
                    .as_deref()
                    .map(|v| chrome.label(v))
                    .unwrap_or_else(|| "—".into()),
            ),
        })
        .collect();
    let canned = store::catalog::canned_responses(db)
        .await?
        .into_iter()
        .map(|c| CannedOption {
            title: c.title,
            body: c.body,
        })
        .collect();
    let departments = store::catalog::departments(db).await?;
    let agents = store::agents::list(db).await?;
    let customer = &detail.customer;
    let reply_route = {
        let sms = ticket.channel == "sms" && customer.phone.is_some();
        match (sms, &customer.email, &customer.phone) {
            (true, _, Some(phone)) => format!("{} ({phone})", chrome.label("sms")),
            (false, Some(email), _) => format!("{} ({email})", chrome.label("email")),
            (false, None, Some(phone)) => format!("{} ({phone})", chrome.label("sms")),
            _ => "—".to_string(),
        }
    };
    let statuses = choices(
        TicketStatus::ALL
            .iter()
            .map(|s| (s.as_str().to_string(), chrome.label(s.as_str())))
            .collect(),
        &ticket.status,
    );
    let priorities = choices(
        ["low", "normal", "high", "urgent"]
            .iter()
            .map(|p| (p.to_string(), chrome.label(p)))
            .collect(),
        &ticket.priority,
    );
    let current_department = detail
        .department
        .as_ref()
        .map(|d| d.key.as_str())
        .unwrap_or("");
    let departments = choices(
        std::iter::once((String::new(), "—".to_string()))
            .chain(departments.into_iter().map(|d| (d.key, d.name)))
            .collect(),
        current_department,
    );
    let current_assignee = ticket
        .assignee_id
        .map(|id| id.to_string())
        .unwrap_or_default();
    let assignees = choices(
        std::iter::once((String::new(), t.nobody.to_string()))
            .chain(
                agents
                    .into_iter()
                    .filter(|a| a.active || Some(a.id) == ticket.assignee_id)
                    .map(|a| (a.id.to_string(), a.name)),
            )
            .collect(),
        &current_assignee,
    );
    let page = TicketPage {
        number: ticket.number.clone(),
        number_shown: chrome.digits(&ticket.number),
        subject: ticket.subject.clone(),
        status: chrome.label(&ticket.status),
        status_code: ticket.status.clone(),
        priority: chrome.label(&ticket.priority),
        department: detail
            .department
            .as_ref()
            .map(|d| d.name.clone())
            .unwrap_or_default(),
        assignee: detail
            .assignee
            .as_ref()
            .map(|a| a.name.clone())
            .unwrap_or_default(),
        channel: chrome.label(&ticket.channel),
        customer_name: customer.name.clone().unwrap_or_default(),
        customer_email: customer.email.clone().unwrap_or_default(),
        customer_phone: customer.phone.clone().unwrap_or_default(),
        created: chrome.when(&ticket.created_at),
        waited: ticket
            .waiting_since
            .map(|since| format_relative_wait(since, now, chrome.language))
            .unwrap_or_default(),
        reply_route,
        thread,
        notifications,
        other_tickets,
        events,
        canned,
        statuses,
        priorities,
        departments,
        assignees,
        seen_message_id: detail.newest_message_id().unwrap_or(0),
        draft: draft.text,
        draft_internal: draft.internal,
        collision: draft.collision,
        chrome: chrome.titled(format!("#{} {}", ticket.number, ticket.subject)),
    };
    Ok(page)
}

fn failure(state: &WebState, agent: &PageAgent) -> impl Fn(PageError) -> PageFailure {
    let chrome = Chrome::new(state, &agent.0, "queue");
    move |error| PageFailure {
        error,
        chrome: Box::new(chrome.clone()),
    }
}

pub async fn page(
    State(state): State<WebState>,
    agent: PageAgent,
    Path(number): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> Result<TicketPage, PageFailure> {
    render(
        &state,
        &agent,
        &number,
        query.notice.as_deref(),
        Draft::default(),
    )
    .await
    .map_err(failure(&state, &agent))
}

#[derive(Debug, Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    body: String,
    internal: Option<String>,
    #[serde(default)]
    seen_message_id: String,
    force: Option<String>,
}

pub async fn reply(
    State(state): State<WebState>,
    agent: PageAgent,
    Path(number): Path<String>,
    Form(form): Form<ReplyForm>,
) -> Result<Response, PageFailure> {
    let fail = failure(&state, &agent);
    let internal = form.internal.is_some();
    let agent_id = agent.0.agent.id;
    let shown_again = |draft: Draft, status: StatusCode| {
        let state = state.clone();
        let number = number.clone();
        let agent = PageAgent(agent.0.clone());
        async move {
            render(&state, &agent, &number, None, draft)
                .await
                .map(|page| (status, page).into_response())
        }
    };
    if form.body.trim().is_empty() {
        let t = Chrome::new(&state, &agent.0, "queue").t;
        return shown_again(
            Draft {
                text: form.body,
                internal,
                collision: false,
                error: Some(t.empty_reply.into()),
            },
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await
        .map_err(fail);
    }
    if !internal && form.force.is_none() {
        let detail = queue::ticket_detail(state.store.db(), &number)
            .await
            .map_err(|e| fail(e.into()))?
            .ok_or_else(|| fail(PageError::NotFound))?;
        let thread: Vec<ThreadEntry> = detail
            .messages
            .iter()
            .map(|m| ThreadEntry {
                id: m.message.id,
                direction: Direction::parse(&m.message.direction).unwrap_or(Direction::Inbound),
                author_agent_id: m.message.author_agent_id,
            })
            .collect();
        let seen = form.seen_message_id.trim().parse::<i64>().ok();
        if answered_by_someone_else_since(&thread, seen, agent_id) {
            tracing::info!(ticket = %detail.ticket.number, agent = agent_id, "reply held: someone else answered since the page loaded");
            return shown_again(
                Draft {
                    text: form.body,
                    internal,
                    collision: true,
                    error: None,
                },
                StatusCode::CONFLICT,
            )
            .await
            .map_err(fail);
        }
    }
    let rules = ReplyRules::from_settings(&state.settings);
    let canonical = queue::canonical_number(&number);
    match reply_to_ticket(
        &state.store,
        state.clock.as_ref(),
        &rules,
        &canonical,
        agent_id,
        &form.body,
        internal,
    )
    .await
    {
        Ok(reply) => {
            let notice = if internal {
                "noted"
            } else if reply.notification.is_some() {
                state.intake.outbox_wakeup().notify_one();
                "replied"
            } else {
                "no_route"
            };
            Ok(see_other(&format!("/tickets/{canonical}"), notice))
        }
        Err(ReplyError::NotFound(_)) => Err(fail(PageError::NotFound)),
        Err(ReplyError::Invalid(message)) => shown_again(
            Draft {
                text: form.body,
                internal,
                collision: false,
                error: Some(message),
            },
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await
        .map_err(fail),
        Err(other) => Err(fail(PageError::Internal(other.to_string()))),
    }
}

#[derive(Debug, Deserialize)]
pub struct UpdateForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    priority: String,
    department: Option<String>,
    assignee: Option<String>,
}

pub async fn update(
    State(state): State<WebState>,
    agent: PageAgent,
    Path(number): Path<String>,
    Form(form): Form<UpdateForm>,
) -> Result<Response, PageFailure> {
    let fail = failure(&state, &agent);
    let bad = |what: &str, value: &str| fail(PageError::BadRequest(format!("{what}: {value:?}")));
    let changes = TicketChanges {
        status: match form.status.as_str() {
            "" => None,
            s => Some(TicketStatus::parse(s).ok_or_else(|| bad("status", s))?),
        },
        priority: match form.priority.as_str() {
            "" => None,
            p => Some(Priority::parse(p).ok_or_else(|| bad("priority", p))?),
        },
        department_key: form
            .department
            .map(|d| Some(d.trim().to_string()).filter(|d| !d.is_empty())),
        assignee_id: match form.assignee.as_deref().map(str::trim) {
            None => None,
            Some("") => Some(None),
            Some(id) => Some(Some(id.parse::<i64>().map_err(|_| bad("assignee", id))?)),
        },
    };
    let canonical = queue::canonical_number(&number);
    let rules = ReplyRules::from_settings(&state.settings);
    match update_ticket(
        &state.store,
        state.clock.as_ref(),
        &rules,
        &canonical,
        agent.0.agent.id,
        &changes,
    )
    .await
    {
        Ok(notification) => {
            if notification.is_some() {
                state.intake.outbox_wakeup().notify_one();
            }
            Ok(see_other(&format!("/tickets/{canonical}"), "updated"))
        }
        Err(ReplyError::NotFound(_)) => Err(fail(PageError::NotFound)),
        Err(ReplyError::Invalid(message)) => Err(fail(PageError::BadRequest(message))),
        Err(other) => Err(fail(PageError::Internal(other.to_string()))),
    }
}

pub async fn attachment(
    State(state): State<WebState>,
    agent: PageAgent,
    Path(id): Path<i64>,
) -> Result<Response, PageFailure> {
    let fail = failure(&state, &agent);
    let found = queue::attachment(state.store.db(), id)
        .await
        .map_err(|e| fail(e.into()))?
        .ok_or_else(|| fail(PageError::NotFound))?;
    match attachment_response(found) {
        Ok(response) => Ok(response),
        Err(DownloadRefusal::Refused(reason)) => Err(fail(PageError::BadRequest(reason))),
        Err(DownloadRefusal::Missing) => Err(fail(PageError::NotFound)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitized_html_keeps_text_and_drops_scripts_and_handlers() {
        let clean = sanitize_html(
            "<p>Hello <b>there</b></p><script>window.__pwned=1</script>\
             <img src=\"x\" onerror=\"window.__pwned=2\"><a href=\"javascript:alert(1)\">link</a>",
        );
        assert!(clean.contains("<b>there</b>"), "{clean}");
        assert!(!clean.contains("script"), "{clean}");
        assert!(!clean.contains("onerror"), "{clean}");
        assert!(!clean.contains("javascript:"), "{clean}");
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(2048), "2 KB");
        assert_eq!(human_size(3 * 1024 * 1024), "3.0 MB");
    }
}
