//! The JSON API under `/api` (CONTRACT.md): tickets, replies, status changes, inbound receipts,
//! the outbox and attachments, for any agent authenticated by HTTP Basic or a session.
//!
//! Choices where the contract is silent:
//! - Every error is JSON `{"error": "..."}`: 400 for a bad parameter or body, 401 without valid
//!   credentials (from [`ApiAgent`]), 404 for an unknown ticket, attachment or path, 410 for an
//!   attachment refused at intake, 415 for a body that is not `application/json`.
//! - `page` counts from 1; `per_page` defaults to 50 and is clamped to 200 (asking for more is
//!   not an error: the answer says `per_page` and `total`); 0 or a non-number is 400.
//! - `GET /api/tickets` without `status` lists every status (`status=waiting` gives the agents'
//!   queue: open and in progress). Order is the queue's: longest waiting first, then tickets
//!   nobody waits on. `q` is read as in [`queue::parse_search`]; also `priority=` and
//!   `assignee=` (`all`, `unassigned`, `me`, or an agent id).
//! - `total` of `/api/tickets` is exact, as the contract says. A script that pages through
//!   a huge desk may pass `exact_total=false`: the count then stops at 10,000 and says
//!   `"total_is_capped": true` (counting a million tickets costs more than the page itself:
//!   about 25 ms on SQLite, 100 ms on PostgreSQL). The totals of `/api/inbound` and
//!   `/api/outbox` are always exact.
//! - A status change to the current status changes nothing and answers 200.

use std::collections::HashMap;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::WebState;
use super::auth::ApiAgent;
use super::download::{DownloadRefusal, attachment_response};
use crate::domain::ticket::{Direction, Priority, TicketStatus};
use crate::service::replies::{ReplyError, ReplyRules, reply_to_ticket};
use crate::service::tickets::{TicketChanges, update_ticket};
use crate::store::entities::message;
use crate::store::queue::{
    self, AgentRef, AssigneeFilter, AttachmentMeta, Customer, DEFAULT_PER_PAGE, Department,
    MessageView, OutboxItem, ReceiptRow, StatusFilter, Ticket, TicketDetail, TicketFilter,
    TicketRow,
};
use crate::store::{DbErr, StoreError};

const RECEIPT_OUTCOMES: [&str; 5] = ["new_ticket", "reply", "ignored", "bounce", "error"];
const OUTBOX_STATUSES: [&str; 4] = ["pending", "sent", "failed", "dead"];

pub fn routes() -> Router<WebState> {
    Router::new()
        .route(
            "/api/tickets",
            get(list_tickets).fallback(method_not_allowed),
        )
        .route(
            "/api/tickets/{number}",
            get(show_ticket).fallback(method_not_allowed),
        )
        .route(
            "/api/tickets/{number}/replies",
            post(add_reply).fallback(method_not_allowed),
        )
        .route(
            "/api/tickets/{number}/status",
            post(change_status).fallback(method_not_allowed),
        )
        .route(
            "/api/inbound",
            get(list_receipts).fallback(method_not_allowed),
        )
        .route("/api/outbox", get(list_outbox).fallback(method_not_allowed))
        .route(
            "/api/attachments/{id}",
            get(download).fallback(method_not_allowed),
        )
        .route("/api", any(unknown_path))
        .route("/api/", any(unknown_path))
        .route("/api/{*rest}", any(unknown_path))
}

/// An error answer: the status and `{"error": message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    fn no_ticket(number: &str) -> Self {
        Self::not_found(format!("no ticket {number}"))
    }

    fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "API request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}

impl From<DbErr> for ApiError {
    fn from(error: DbErr) -> Self {
        ApiError::internal(error)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::internal(error)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request(format!("bad query string: {}", rejection.body_text()))
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = match rejection {
            JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, rejection.body_text())
    }
}

impl From<ReplyError> for ApiError {
    fn from(error: ReplyError) -> Self {
        match error {
            ReplyError::NotFound(number) => ApiError::no_ticket(&number),
            ReplyError::Invalid(message) => ApiError::bad_request(message),
            ReplyError::Render(_) | ReplyError::Db(_) => ApiError::internal(error),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;
type Params = HashMap<String, String>;

async fn method_not_allowed(_agent: ApiAgent) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this path",
    )
}

async fn unknown_path(_agent: ApiAgent) -> ApiError {
    ApiError::not_found("no such API endpoint")
}

/// A parameter, `None` when absent or empty.
fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// `page` (from 1, default 1) and `per_page` (default 50, clamped to 200).
fn paging(params: &Params) -> ApiResult<(u64, u64)> {
    let number = |name: &str, default: u64| -> ApiResult<u64> {
        match param(params, name) {
            None => Ok(default),
            Some(text) => text.parse::<u64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{name} must be a whole number from 1, not {text:?}"
                ))
            }),
        }
    };
    Ok(queue::clamp_paging(
        number("page", 1)?,
        number("per_page", DEFAULT_PER_PAGE)?,
    ))
}

fn one_of<'a>(params: &'a Params, name: &str, allowed: &[&str]) -> ApiResult<Option<&'a str>> {
    match param(params, name) {
        None => Ok(None),
        Some(value) if allowed.contains(&value) => Ok(Some(value)),
        Some(value) => Err(ApiError::bad_request(format!(
            "{name} must be one of {}, not {value:?}",
            allowed.join(", ")
        ))),
    }
}

/// RFC 3339 in UTC, `Z`, fractional seconds only when there are some.
fn time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn opt_time(at: Option<&DateTime<Utc>>) -> Value {
    at.map_or(Value::Null, |at| Value::from(time(at)))
}

/// A Message-ID as in the header: with angle brackets.
fn bracketed(id: Option<&str>) -> Value {
    match id.map(str::trim).filter(|id| !id.is_empty()) {
        None => Value::Null,
        Some(id) if id.starts_with('<') => Value::from(id),
        Some(id) => Value::from(format!("<{id}>")),
    }
}

/// TICKET: `number, subject, status, priority, department, channel, customer {name, email,
/// phone}, created_at, updated_at`, plus the department's name, the assignee, waiting and
/// closing times.
fn ticket_json(
    ticket: &Ticket,
    customer: &Customer,
    department: Option<&Department>,
    assignee: Option<&AgentRef>,
) -> Map<String, Value> {
    let value = json!({
        "number": ticket.number,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "department": department.map(|d| d.key.clone()),
        "department_name": department.map(|d| d.name.clone()),
        "channel": ticket.channel,
        "customer": {
            "name": customer.name,
            "email": customer.email,
            "phone": customer.phone,
        },
        "assignee": assignee.map(|a| json!({"id": a.id, "name": a.name, "email": a.email})),
        "waiting_since": opt_time(ticket.waiting_since.as_ref()),
        "closed_at": opt_time(ticket.closed_at.as_ref()),
        "created_at": time(&ticket.created_at),
        "updated_at": time(&ticket.updated_at),
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn row_json(row: &TicketRow) -> Value {
    let mut map = ticket_json(
        &row.ticket,
        &row.customer,
        row.department.as_ref(),
        row.assignee.as_ref(),
    );
    map.insert("message_count".into(), Value::from(row.message_count));
    map.insert(
        "last_message_at".into(),
        opt_time(row.last_message_at.as_ref()),
    );
    Value::Object(map)
}

fn attachment_json(a: &AttachmentMeta) -> Value {
    json!({
        "id": a.id,
        "filename": a.filename,
        "content_type": a.content_type,
        "size": a.size,
        "sha256": a.sha256,
        "refused": a.refused,
        "refused_reason": a.refused_reason,
    })
}

/// MESSAGE: `id, direction, channel, author, body_text, created_at, message_id, attachments`,
/// plus `internal` and the notification that carried an agent's reply (`delivery`).
fn message_json(
    m: &MessageView,
    attachments: &[AttachmentMeta],
    delivery: Option<&OutboxItem>,
) -> Value {
    json!({
        "id": m.id,
        "direction": m.direction,
        "channel": m.channel,
        "author": m.author,
        "body_text": m.body_text,
        "quoted_text": m.quoted_text,
        "created_at": time(&m.created_at),
        "message_id": bracketed(m.message_id.as_deref()),
        "internal": m.direction == Direction::Note.as_str(),
        "attachments": attachments.iter().map(attachment_json).collect::<Vec<_>>(),
        "delivery": delivery.map(|o| outbox_json(o, None)),
    })
}

/// OUTBOX: `id, channel, kind, recipient, ticket_number, status, attempts, message_id,
/// last_error`, plus times and the provider's id.
fn outbox_json(item: &OutboxItem, ticket_number: Option<&str>) -> Value {
    let mut value = json!({
        "id": item.id,
        "channel": item.channel,
        "kind": item.kind,
        "recipient": item.recipient,
        "status": item.status,
        "attempts": item.attempts,
        "message_id": bracketed(item.message_id.as_deref()),
        "last_error": item.last_error,
        "ticket_message_id": item.ticket_message_id,
        "provider_message_id": item.provider_message_id,
        "created_at": time(&item.created_at),
        "next_attempt_at": time(&item.next_attempt_at),
        "sent_at": opt_time(item.sent_at.as_ref()),
    });
    if let (Some(number), Value::Object(map)) = (ticket_number, &mut value) {
        map.insert("ticket_number".into(), Value::from(number));
    }
    value
}

/// RECEIPT: `source, external_id, outcome, reason, ticket_number, received_at`, and
/// `bounced_recipient`, `bounce_status` (null but for bounces), plus id, channel, sender,
/// subject.
fn receipt_json(r: &ReceiptRow) -> Value {
    json!({
        "id": r.id,
        "source": r.source,
        "external_id": r.external_id,
        "channel": r.channel,
        "outcome": r.outcome,
        "reason": r.reason,
        "ticket_number": r.ticket_number,
        "sender": r.sender,
        "subject": r.subject,
        "bounced_recipient": r.bounced_recipient,
        "bounce_status": r.bounce_status,
        "attempts": r.attempts,
        "received_at": time(&r.received_at),
        "updated_at": time(&r.updated_at),
    })
}

fn detail_json(detail: &TicketDetail) -> Value {
    let mut map = ticket_json(
        &detail.ticket,
        &detail.customer,
        detail.department.as_ref(),
        detail.assignee.as_ref(),
    );
    let number = detail.ticket.number.as_str();
    map.insert(
        "message_count".into(),
        Value::from(detail.messages.len() as u64),
    );
    map.insert(
        "messages".into(),
        detail
            .messages
            .iter()
            .map(|m| {
                message_json(
                    &m.message,
                    &m.attachments,
                    detail.deliveries_of(m.message.id).last(),
                )
            })
            .collect(),
    );
    map.insert(
        "notifications".into(),
        detail
            .outbox
            .iter()
            .map(|o| outbox_json(o, Some(number)))
            .collect(),
    );
    map.insert(
        "events".into(),
        detail
            .events
            .iter()
            .map(|e| {
                json!({
                    "kind": e.kind,
                    "old_value": e.old_value,
                    "new_value": e.new_value,
                    "actor": e.actor,
                    "actor_agent_id": e.actor_agent_id,
                    "created_at": time(&e.created_at),
                })
            })
            .collect(),
    );
    map.insert(
        "other_tickets".into(),
        detail
            .other_tickets
            .iter()
            .map(|t| {
                json!({
                    "number": t.number,
                    "subject": t.subject,
                    "status": t.status,
                    "created_at": time(&t.created_at),
                    "updated_at": time(&t.updated_at),
                })
            })
            .collect(),
    );
    Value::Object(map)
}

/// `GET /api/tickets?status=&department=&priority=&assignee=&q=&page=&per_page=&exact_total=`.
async fn list_tickets(
    ApiAgent { agent }: ApiAgent,
    State(state): State<WebState>,
    params: Result<Query<Params>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(params) = params?;
    let (page, per_page) = paging(&params)?;
    let status = match param(&params, "status") {
        None => StatusFilter::All,
        Some(text) => StatusFilter::parse(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "status must be one of open, in_progress, answered, closed, waiting, all, not {text:?}"
            ))
        })?,
    };
    let priority = match param(&params, "priority") {
        None => None,
        Some(text) => Some(Priority::parse(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "priority must be one of low, normal, high, urgent, not {text:?}"
            ))
        })?),
    };
    let assignee = match param(&params, "assignee") {
        None | Some("all") => AssigneeFilter::All,
        Some("unassigned") | Some("none") => AssigneeFilter::Unassigned,
        Some("me") | Some("mine") => AssigneeFilter::Agent(agent.id),
        Some(text) => AssigneeFilter::Agent(text.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!(
                "assignee must be all, unassigned, me or an agent id, not {text:?}"
            ))
        })?),
    };
    let exact_total = match param(&params, "exact_total") {
        None | Some("true") | Some("1") => true,
        Some("false") | Some("0") => false,
        Some(text) => {
            return Err(ApiError::bad_request(format!(
                "exact_total must be true or false, not {text:?}"
            )));
        }
    };
    let filter = TicketFilter {
        status,
        department: param(&params, "department").map(str::to_string),
        priority,
        assignee,
        query: param(&params, "q").map(str::to_string),
        page,
        per_page,
        phone_region: state.settings.sms.default_region.clone(),
        count_cap: if exact_total {
            None
        } else {
            Some(queue::DEFAULT_COUNT_CAP)
        },
    };
    let found = queue::list_tickets(state.store.db(), &filter).await?;
    Ok(Json(json!({
        "tickets": found.rows.iter().map(row_json).collect::<Vec<_>>(),
        "total": found.total,
        "total_is_capped": found.total_is_capped,
        "page": found.page,
        "per_page": found.per_page,
    })))
}

/// `GET /api/tickets/{number}`: TICKET with its messages, oldest first.
async fn show_ticket(
    _agent: ApiAgent,
    State(state): State<WebState>,
    Path(number): Path<String>,
) -> ApiResult<Json<Value>> {
    let detail = queue::ticket_detail(state.store.db(), &number)
        .await?
        .ok_or_else(|| ApiError::no_ticket(&number))?;
    Ok(Json(detail_json(&detail)))
}

#[derive(Debug, Deserialize)]
struct ReplyBody {
    body: String,
    #[serde(default)]
    internal: bool,
}

/// `POST /api/tickets/{number}/replies`: 201 with the MESSAGE.
async fn add_reply(
    ApiAgent { agent }: ApiAgent,
    State(state): State<WebState>,
    Path(number): Path<String>,
    body: Result<Json<ReplyBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let Json(body) = body?;
    let number = canonical(&number);
    let rules = ReplyRules::from_settings(&state.settings);
    let reply = reply_to_ticket(
        &state.store,
        state.clock.as_ref(),
        &rules,
        &number,
        agent.id,
        &body.body,
        body.internal,
    )
    .await?;
    if reply.notification.is_some() {
        state.intake.outbox_wakeup().notify_one();
    }
    let view = message_view(reply.message);
    Ok((
        StatusCode::CREATED,
        Json(message_json(&view, &[], reply.notification.as_ref())),
    ))
}

#[derive(Debug, Deserialize)]
struct StatusBody {
    status: String,
}

/// `POST /api/tickets/{number}/status`: 200 with the TICKET. Closing tells the customer.
async fn change_status(
    ApiAgent { agent }: ApiAgent,
    State(state): State<WebState>,
    Path(number): Path<String>,
    body: Result<Json<StatusBody>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let Json(body) = body?;
    let status = TicketStatus::parse(body.status.trim()).ok_or_else(|| {
        ApiError::bad_request(format!(
            "status must be one of open, in_progress, answered, closed, not {:?}",
            body.status
        ))
    })?;
    let number = canonical(&number);
    let rules = ReplyRules::from_settings(&state.settings);
    let changes = TicketChanges {
        status: Some(status),
        ..TicketChanges::default()
    };
    let notification = update_ticket(
        &state.store,
        state.clock.as_ref(),
        &rules,
        &number,
        agent.id,
        &changes,
    )
    .await?;
    if notification.is_some() {
        state.intake.outbox_wakeup().notify_one();
    }
    let row = queue::ticket_row(state.store.db(), &number)
        .await?
        .ok_or_else(|| ApiError::no_ticket(&number))?;
    Ok(Json(row_json(&row)))
}

/// `GET /api/inbound?outcome=&page=&per_page=`: receipts newest first.
async fn list_receipts(
    _agent: ApiAgent,
    State(state): State<WebState>,
    params: Result<Query<Params>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(params) = params?;
    let (page, per_page) = paging(&params)?;
    let outcome = one_of(&params, "outcome", &RECEIPT_OUTCOMES)?;
    let found = queue::list_receipts(state.store.db(), outcome, page, per_page).await?;
    Ok(Json(json!({
        "receipts": found.rows.iter().map(receipt_json).collect::<Vec<_>>(),
        "total": found.total,
        "page": page,
        "per_page": per_page,
    })))
}

/// `GET /api/outbox?status=&page=&per_page=`: notifications newest first.
async fn list_outbox(
    _agent: ApiAgent,
    State(state): State<WebState>,
    params: Result<Query<Params>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(params) = params?;
    let (page, per_page) = paging(&params)?;
    let status = one_of(&params, "status", &OUTBOX_STATUSES)?;
    let found = queue::list_outbox(state.store.db(), status, page, per_page).await?;
    Ok(Json(json!({
        "items": found
            .rows
            .iter()
            .map(|r| outbox_json(&r.item, Some(&r.ticket_number)))
            .collect::<Vec<_>>(),
        "total": found.total,
        "page": page,
        "per_page": per_page,
    })))
}

/// `GET /api/attachments/{id}`: the bytes as a download; 404 unknown, 410 refused at intake.
async fn download(
    _agent: ApiAgent,
    State(state): State<WebState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id: i64 = id
        .trim()
        .parse()
        .map_err(|_| ApiError::bad_request(format!("not an attachment id: {id:?}")))?;
    let found = queue::attachment(state.store.db(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no attachment {id}")))?;
    attachment_response(found).map_err(|refusal| match refusal {
        DownloadRefusal::Refused(reason) => ApiError::new(
            StatusCode::GONE,
            format!("attachment {id} was refused at intake: {reason}"),
        ),
        DownloadRefusal::Missing => {
            ApiError::new(StatusCode::GONE, format!("attachment {id} has no content"))
        }
    })
}

/// A ticket number typed in any digit system, as stored (or as given, which then finds
/// nothing).
fn canonical(number: &str) -> String {
    crate::domain::ticket_number::TicketNumber::parse(number)
        .map(|n| n.as_str().to_string())
        .unwrap_or_else(|_| number.trim().to_string())
}

fn message_view(m: message::Model) -> MessageView {
    MessageView {
        id: m.id,
        ticket_id: m.ticket_id,
        direction: m.direction,
        channel: m.channel,
        author_agent_id: m.author_agent_id,
        author: m.author,
        body_text: m.body_text,
        quoted_text: m.quoted_text,
        body_html: m.body_html,
        message_id: m.message_id,
        provider_message_id: m.provider_message_id,
        created_at: m.created_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn paging_defaults_clamps_and_refuses() {
        assert_eq!(paging(&params(&[])), Ok((1, 50)));
        assert_eq!(
            paging(&params(&[("page", ""), ("per_page", " ")])),
            Ok((1, 50))
        );
        assert_eq!(
            paging(&params(&[("page", "3"), ("per_page", "1000")])),
            Ok((3, 200))
        );
        for bad in ["0", "-1", "x", "1.5"] {
            assert_eq!(
                paging(&params(&[("page", bad)])).map_err(|e| e.status),
                Err(StatusCode::BAD_REQUEST),
                "{bad}"
            );
            assert_eq!(
                paging(&params(&[("per_page", bad)])).map_err(|e| e.status),
                Err(StatusCode::BAD_REQUEST),
                "{bad}"
            );
        }
    }

    #[test]
    fn message_ids_keep_their_brackets() {
        assert_eq!(bracketed(Some("<a@b>")), Value::from("<a@b>"));
        assert_eq!(bracketed(Some("a@b")), Value::from("<a@b>"));
        assert_eq!(bracketed(None), Value::Null);
    }

    #[test]
    fn times_are_rfc3339_in_utc() {
        let at = DateTime::parse_from_rfc3339("2026-11-30T08:00:00+03:30")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        assert_eq!(
            at.as_ref().map(time).as_deref(),
            Some("2026-11-30T04:30:00Z")
        );
    }
}
