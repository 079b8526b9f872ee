//! The read side for agents (web view and JSON API): the ticket queue with its filters and
//! search, one ticket with everything around it, inbound receipts, the outbox, attachments.
//!
//! Queue order: `waiting_since` ascending (the customer waiting longest first), tickets without
//! `waiting_since` (answered, closed) after all others, then `id`. A customer's bump or a
//! duplicate keeps `waiting_since` (see `tickets::record_customer_reply`), so it never moves a
//! ticket up.
//!
//! How a page stays cheap at a million tickets: for each status asked for, the first
//! `page * per_page` keys are read in two index-ordered range scans of `(status, waiting_since)`
//! (the rows with a `waiting_since`, then those without), merged here, and only the page's
//! tickets are then loaded with their customers, departments, assignees and message counts.
//! Deep pages (more than [`MERGE_LIMIT`] keys per scan) fall back to one ordered query with
//! OFFSET. The total is counted over at most `count_cap + 1` rows (`TicketFilter::count_cap`;
//! `None` counts exactly), and `TicketPage::total_is_capped` tells "10,000+" from "10,000".
//! A narrow search (a ticket number, a customer's email or phone, a number prefix of 3 digits
//! or more) reads the matching tickets through the number's or the customers' index instead,
//! at most [`NARROW_LIMIT`] of them, and orders them here. A subject search has no index: it
//! reads the queue index in order until the page is full, and its count reads every candidate.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Order};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, FromQueryResult, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::DbErr;
use super::entities::{
    agent, attachment, customer, department, inbound_receipt, message, outbox_item, ticket,
    ticket_event,
};
use crate::domain::contact::{EmailAddress, PhoneNumber};
use crate::domain::digits::to_ascii_digits;
use crate::domain::ticket::{Priority, TicketStatus};
use crate::domain::ticket_number::{TICKET_NUMBER_LEN, TicketNumber};

pub use super::outbox::OutboxItem;
pub use super::tickets::{Customer, Ticket};
pub use attachment::Model as Attachment;
pub use department::Model as Department;
pub use ticket_event::Model as TicketEvent;

/// Default page size of lists.
pub const DEFAULT_PER_PAGE: u64 = 50;
/// Largest page size; larger requests are clamped to it.
pub const MAX_PER_PAGE: u64 = 200;
/// Default cap of the queue's total count (the view shows "10,000+").
pub const DEFAULT_COUNT_CAP: u64 = 10_000;
/// Up to this many keys per status scan, pages are merged from index-ordered scans; beyond,
/// one ordered query with OFFSET answers.
pub const MERGE_LIMIT: u64 = 10_000;
/// A narrow search (one number, a few customers) sorts up to this many tickets itself.
pub const NARROW_LIMIT: u64 = 5_000;
/// A number prefix of this many digits or more is a narrow search.
const NARROW_PREFIX_DIGITS: usize = 3;
/// How many customers an email prefix may match.
const EMAIL_PREFIX_CUSTOMERS: u64 = 500;
/// How many of the customer's other tickets the detail shows.
const OTHER_TICKETS: u64 = 20;

/// Which statuses the queue shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    /// Waiting for an agent: `open` and `in_progress`.
    #[default]
    Waiting,
    One(TicketStatus),
    All,
}

impl StatusFilter {
    /// `waiting`, `all`, or one status (`open`, `in_progress`, `answered`, `closed`).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "waiting" => Some(StatusFilter::Waiting),
            "all" => Some(StatusFilter::All),
            other => TicketStatus::parse(other).map(StatusFilter::One),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StatusFilter::Waiting => "waiting",
            StatusFilter::All => "all",
            StatusFilter::One(status) => status.as_str(),
        }
    }

    pub fn statuses(self) -> Vec<TicketStatus> {
        match self {
            StatusFilter::Waiting => vec![TicketStatus::Open, TicketStatus::InProgress],
            StatusFilter::One(status) => vec![status],
            StatusFilter::All => TicketStatus::ALL.to_vec(),
        }
    }
}

/// Whose tickets the queue shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssigneeFilter {
    #[default]
    All,
    Unassigned,
    Agent(i64),
}

/// What the queue shows. Build it with `..Default::default()`: page 1, 50 per page, waiting
/// tickets, region `IR`, total capped at [`DEFAULT_COUNT_CAP`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketFilter {
    pub status: StatusFilter,
    /// A department key.
    pub department: Option<String>,
    pub priority: Option<Priority>,
    pub assignee: AssigneeFilter,
    /// Free search, read by [`parse_search`].
    pub query: Option<String>,
    /// From 1 (0 reads as 1).
    pub page: u64,
    /// Clamped to 1..=[`MAX_PER_PAGE`].
    pub per_page: u64,
    /// Region of nationally written phone numbers in `query` (`sms.default_region`).
    pub phone_region: String,
    /// Count at most this many tickets for `total` (`None`: count exactly).
    pub count_cap: Option<u64>,
}

impl Default for TicketFilter {
    fn default() -> Self {
        Self {
            status: StatusFilter::Waiting,
            department: None,
            priority: None,
            assignee: AssigneeFilter::All,
            query: None,
            page: 1,
            per_page: DEFAULT_PER_PAGE,
            phone_region: "IR".into(),
            count_cap: Some(DEFAULT_COUNT_CAP),
        }
    }
}

/// How a search text is read, in this order:
/// 1. a valid ticket number (ASCII, Persian or Arabic-Indic digits, optional `#`): that ticket;
/// 2. text with `@`: customers whose email is that address, else starts with it
///    (case-insensitive);
/// 3. a phone number (any form [`PhoneNumber::parse`] reads): customers with that number;
/// 4. 1 to 6 digits (any digit system, optional `#`): ticket numbers starting with them;
/// 5. anything else, including 7 or more digits that are no valid ticket or phone number:
///    a case-insensitive substring of the subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    Number(String),
    Email(String),
    Phone(String),
    NumberPrefix(String),
    Subject(String),
}

/// Reads a search text; `None` for an empty one.
pub fn parse_search(query: &str, phone_region: &str) -> Option<Search> {
    let query = query.trim();
    if query.is_empty() {
        return None;
    }
    if let Ok(number) = TicketNumber::parse(query) {
        return Some(Search::Number(number.as_str().to_string()));
    }
    if query.contains('@') {
        let address = EmailAddress::parse(query)
            .map(|a| a.as_str().to_string())
            .unwrap_or_else(|_| {
                query
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_lowercase()
            });
        return Some(Search::Email(address));
    }
    let looks_like_phone = query.chars().all(|c| {
        crate::domain::digits::is_any_digit(c)
            || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.' | '\u{200c}')
    });
    if looks_like_phone && let Ok(phone) = PhoneNumber::parse(query, phone_region) {
        return Some(Search::Phone(phone.as_str().to_string()));
    }
    let digits = to_ascii_digits(query);
    let digits = digits.strip_prefix('#').unwrap_or(&digits).trim();
    if !digits.is_empty()
        && digits.len() < TICKET_NUMBER_LEN
        && digits.chars().all(|c| c.is_ascii_digit())
    {
        return Some(Search::NumberPrefix(digits.to_string()));
    }
    Some(Search::Subject(query.to_string()))
}

/// An agent as others see them (no password hash).
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct AgentRef {
    pub id: i64,
    pub name: String,
    pub email: String,
}

/// One line of the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRow {
    pub ticket: Ticket,
    pub customer: Customer,
    pub department: Option<Department>,
    pub assignee: Option<AgentRef>,
    pub message_count: u64,
    pub last_message_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketPage {
    pub rows: Vec<TicketRow>,
    /// Matching tickets; at most `count_cap` when `total_is_capped`.
    pub total: u64,
    /// True when more than `count_cap` tickets match (show "10,000+").
    pub total_is_capped: bool,
    /// The page and page size actually used (after clamping).
    pub page: u64,
    pub per_page: u64,
}

impl TicketPage {
    fn empty(page: u64, per_page: u64) -> Self {
        Self {
            rows: Vec::new(),
            total: 0,
            total_is_capped: false,
            page,
            per_page,
        }
    }

    /// True when a page after this one has tickets.
    pub fn has_next(&self) -> bool {
        self.total_is_capped || self.page.saturating_mul(self.per_page) < self.total
    }
}

/// `page` from 1 and `per_page` clamped to 1..=[`MAX_PER_PAGE`].
pub fn clamp_paging(page: u64, per_page: u64) -> (u64, u64) {
    (Ord::max(page, 1), Ord::clamp(per_page, 1, MAX_PER_PAGE))
}

fn offset_of(page: u64, per_page: u64) -> u64 {
    page.saturating_sub(1).saturating_mul(per_page)
}

/// The queue: one page of tickets matching `filter`, in queue order, with the total.
pub async fn list_tickets(
    db: &impl ConnectionTrait,
    filter: &TicketFilter,
) -> Result<TicketPage, DbErr> {
    list_tickets_by(db, filter, MERGE_LIMIT, true).await
}

/// [`list_tickets`] always by one ordered query with OFFSET (the deep-page plan, never the
/// narrow-search one), for tests and benchmarks that compare the plans.
#[doc(hidden)]
pub async fn list_tickets_by_offset(
    db: &impl ConnectionTrait,
    filter: &TicketFilter,
) -> Result<TicketPage, DbErr> {
    list_tickets_by(db, filter, 0, false).await
}

async fn list_tickets_by(
    db: &impl ConnectionTrait,
    filter: &TicketFilter,
    merge_limit: u64,
    allow_narrow: bool,
) -> Result<TicketPage, DbErr> {
    let (page, per_page) = clamp_paging(filter.page, filter.per_page);
    let Some(plan) = filter_condition(db, filter).await? else {
        return Ok(TicketPage::empty(page, per_page));
    };
    let statuses = filter.status.statuses();
    let offset = offset_of(page, per_page);
    if plan.narrow
        && allow_narrow
        && let Some(keys) = narrow_keys(db, &plan.condition, &statuses).await?
    {
        let counted = keys.len() as u64;
        let ids: Vec<i64> = keys
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(per_page).unwrap_or(usize::MAX))
            .map(|(_, id)| id)
            .collect();
        let rows = ticket_rows(db, &ids).await?;
        let (total, total_is_capped) = capped(counted, filter.count_cap);
        return Ok(TicketPage {
            rows,
            total,
            total_is_capped,
            page,
            per_page,
        });
    }
    let condition = plan.condition;
    let wanted = offset.saturating_add(per_page);
    let ids = if wanted <= merge_limit {
        merged_page_ids(db, &condition, &statuses, offset, per_page, wanted).await?
    } else {
        ordered_page_ids(db, &condition, &statuses, offset, per_page).await?
    };
    let rows = ticket_rows(db, &ids).await?;

    let mut count = ticket::Entity::find()
        .select_only()
        .column(ticket::Column::Id)
        .filter(condition)
        .filter(status_condition(&statuses));
    if let Some(cap) = filter.count_cap {
        count = count.limit(cap.saturating_add(1));
    }
    let (total, total_is_capped) = capped(count.count(db).await?, filter.count_cap);
    Ok(TicketPage {
        rows,
        total,
        total_is_capped,
        page,
        per_page,
    })
}

fn capped(counted: u64, cap: Option<u64>) -> (u64, bool) {
    match cap {
        Some(cap) if counted > cap => (cap, true),
        _ => (counted, false),
    }
}

/// Queue keys of every ticket a narrow search matches (one number, a few customers, a long
/// number prefix), in queue order, or `None` when more than [`NARROW_LIMIT`] match. The
/// statuses are checked here rather than in SQL, so the database reads the number's or the
/// customers' index instead of walking the queue index.
async fn narrow_keys(
    db: &impl ConnectionTrait,
    condition: &Condition,
    statuses: &[TicketStatus],
) -> Result<Option<Vec<(Option<DateTime<Utc>>, i64)>>, DbErr> {
    let found: Vec<(i64, Option<DateTime<Utc>>, String)> = ticket::Entity::find()
        .select_only()
        .column(ticket::Column::Id)
        .column(ticket::Column::WaitingSince)
        .column(ticket::Column::Status)
        .filter(condition.clone())
        .limit(NARROW_LIMIT + 1)
        .into_tuple()
        .all(db)
        .await?;
    if found.len() as u64 > NARROW_LIMIT {
        return Ok(None);
    }
    let mut keys: Vec<(Option<DateTime<Utc>>, i64)> = found
        .into_iter()
        .filter(|(_, _, status)| statuses.iter().any(|s| s.as_str() == status))
        .map(|(id, at, _)| (at, id))
        .collect();
    keys.sort_by_key(|(at, id)| (at.is_none(), *at, *id));
    Ok(Some(keys))
}

fn status_condition(statuses: &[TicketStatus]) -> Condition {
    if statuses.len() >= TicketStatus::ALL.len() {
        return Condition::all();
    }
    Condition::all().add(ticket::Column::Status.is_in(statuses.iter().map(|s| s.as_str())))
}

/// The first `wanted` keys of each status, by two index-ordered scans per status, merged.
async fn merged_page_ids(
    db: &impl ConnectionTrait,
    condition: &Condition,
    statuses: &[TicketStatus],
    offset: u64,
    per_page: u64,
    wanted: u64,
) -> Result<Vec<i64>, DbErr> {
    let mut keys: Vec<(Option<DateTime<Utc>>, i64)> = Vec::new();
    for status in statuses {
        let waiting: Vec<(i64, DateTime<Utc>)> = ticket::Entity::find()
            .select_only()
            .column(ticket::Column::Id)
            .column(ticket::Column::WaitingSince)
            .filter(ticket::Column::Status.eq(status.as_str()))
            .filter(ticket::Column::WaitingSince.is_not_null())
            .filter(condition.clone())
            .order_by_asc(ticket::Column::WaitingSince)
            .order_by_asc(ticket::Column::Id)
            .limit(wanted)
            .into_tuple()
            .all(db)
            .await?;
        keys.extend(waiting.into_iter().map(|(id, at)| (Some(at), id)));
        let not_waiting: Vec<i64> = ticket::Entity::find()
            .select_only()
            .column(ticket::Column::Id)
            .filter(ticket::Column::Status.eq(status.as_str()))
            .filter(ticket::Column::WaitingSince.is_null())
            .filter(condition.clone())
            // All NULL here, so this orders by id as before; it names the index's column order
            // (status, waiting_since, id), else PostgreSQL walks the primary key and filters a
            // million rows when a status has none (benches/web_queue.rs).
            .order_by_asc(ticket::Column::WaitingSince)
            .order_by_asc(ticket::Column::Id)
            .limit(wanted)
            .into_tuple()
            .all(db)
            .await?;
        keys.extend(not_waiting.into_iter().map(|id| (None, id)));
    }
    keys.sort_by_key(|(at, id)| (at.is_none(), *at, *id));
    Ok(keys
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(per_page).unwrap_or(usize::MAX))
        .map(|(_, id)| id)
        .collect())
}

/// One page of ids in queue order by one ordered query (for deep pages).
async fn ordered_page_ids(
    db: &impl ConnectionTrait,
    condition: &Condition,
    statuses: &[TicketStatus],
    offset: u64,
    per_page: u64,
) -> Result<Vec<i64>, DbErr> {
    ticket::Entity::find()
        .select_only()
        .column(ticket::Column::Id)
        .filter(condition.clone())
        .filter(status_condition(statuses))
        .order_by(
            Into::<Expr>::into(Expr::case(ticket::Column::WaitingSince.is_null(), 1).finally(0)),
            Order::Asc,
        )
        .order_by_asc(ticket::Column::WaitingSince)
        .order_by_asc(ticket::Column::Id)
        .offset(offset)
        .limit(per_page)
        .into_tuple()
        .all(db)
        .await
}

/// The filter's condition (all but the status), and whether the search narrows it to a few
/// tickets found through another index than the queue's.
struct Plan {
    condition: Condition,
    narrow: bool,
}

/// Everything but the status, as one condition; `None` when nothing can match (an unknown
/// department, a search for a customer who does not exist).
async fn filter_condition(
    db: &impl ConnectionTrait,
    filter: &TicketFilter,
) -> Result<Option<Plan>, DbErr> {
    let mut condition = Condition::all();
    let mut narrow = false;
    if let Some(key) = filter.department.as_deref().filter(|k| !k.is_empty()) {
        let Some(id) = super::catalog::department_by_key(db, key)
            .await?
            .map(|d| d.id)
        else {
            return Ok(None);
        };
        condition = condition.add(ticket::Column::DepartmentId.eq(id));
    }
    if let Some(priority) = filter.priority {
        condition = condition.add(ticket::Column::Priority.eq(priority.as_str()));
    }
    match filter.assignee {
        AssigneeFilter::All => {}
        AssigneeFilter::Unassigned => {
            condition = condition.add(ticket::Column::AssigneeId.is_null())
        }
        AssigneeFilter::Agent(id) => condition = condition.add(ticket::Column::AssigneeId.eq(id)),
    }
    let search = filter
        .query
        .as_deref()
        .and_then(|q| parse_search(q, &filter.phone_region));
    match search {
        None => {}
        Some(Search::Number(number)) => {
            condition = condition.add(ticket::Column::Number.eq(number));
            narrow = true;
        }
        Some(Search::NumberPrefix(prefix)) => {
            // Numbers are ASCII digits: "starts with 129" is the range ["129", "13"), which
            // the unique index on `number` serves (LIKE would not, on either backend).
            condition = condition.add(ticket::Column::Number.gte(prefix.as_str()));
            if let Some(upper) = next_digit_string(&prefix) {
                condition = condition.add(ticket::Column::Number.lt(upper));
            }
            narrow = prefix.len() >= NARROW_PREFIX_DIGITS;
        }
        Some(Search::Email(address)) => {
            let ids = customers_by_email(db, &address).await?;
            if ids.is_empty() {
                return Ok(None);
            }
            condition = condition.add(ticket::Column::CustomerId.is_in(ids));
            narrow = true;
        }
        Some(Search::Phone(phone)) => {
            let ids: Vec<i64> = customer::Entity::find()
                .select_only()
                .column(customer::Column::Id)
                .filter(customer::Column::Phone.eq(phone))
                .into_tuple()
                .all(db)
                .await?;
            if ids.is_empty() {
                return Ok(None);
            }
            condition = condition.add(ticket::Column::CustomerId.is_in(ids));
            narrow = true;
        }
        Some(Search::Subject(text)) => {
            let pattern = format!("%{}%", escape_like(&text.to_lowercase()));
            condition = condition.add(
                Expr::expr(Func::lower(Expr::col((
                    ticket::Entity,
                    ticket::Column::Subject,
                ))))
                .like(LikeExpr::new(pattern).escape('\\')),
            );
        }
    }
    Ok(Some(Plan { condition, narrow }))
}

/// The smallest digit string of the same length above every string starting with `prefix`
/// ("129" -> "13", so "129..." is the range ["129", "13")); `None` for all nines.
fn next_digit_string(prefix: &str) -> Option<String> {
    let mut digits: Vec<u8> = prefix.bytes().collect();
    for i in (0..digits.len()).rev() {
        if digits[i] < b'9' {
            digits[i] += 1;
            digits.truncate(i + 1);
            return String::from_utf8(digits).ok();
        }
    }
    None
}

/// Customers with exactly this email address, else (none) those whose address starts with it.
async fn customers_by_email(db: &impl ConnectionTrait, address: &str) -> Result<Vec<i64>, DbErr> {
    let exact: Vec<i64> = customer::Entity::find()
        .select_only()
        .column(customer::Column::Id)
        .filter(customer::Column::Email.eq(address))
        .into_tuple()
        .all(db)
        .await?;
    if !exact.is_empty() {
        return Ok(exact);
    }
    let prefix = if db.get_database_backend() == sea_orm::DbBackend::Sqlite {
        // SQLite compares text bytewise: a range the unique index serves.
        Condition::all()
            .add(customer::Column::Email.gte(address))
            .add(customer::Column::Email.lt(format!("{address}\u{10FFFF}")))
    } else {
        // PostgreSQL: LIKE (an index serves it under the C collation).
        Condition::all().add(
            Expr::col((customer::Entity, customer::Column::Email))
                .like(LikeExpr::new(format!("{}%", escape_like(address))).escape('\\')),
        )
    };
    customer::Entity::find()
        .select_only()
        .column(customer::Column::Id)
        .filter(prefix)
        .limit(EMAIL_PREFIX_CUSTOMERS)
        .into_tuple()
        .all(db)
        .await
}

/// `%`, `_` and `\` taken literally in a LIKE pattern escaped by `\`.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

async fn agent_refs(
    db: &impl ConnectionTrait,
    ids: Vec<i64>,
) -> Result<HashMap<i64, AgentRef>, DbErr> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let agents: Vec<AgentRef> = agent::Entity::find()
        .select_only()
        .column(agent::Column::Id)
        .column(agent::Column::Name)
        .column(agent::Column::Email)
        .filter(agent::Column::Id.is_in(ids))
        .into_model()
        .all(db)
        .await?;
    Ok(agents.into_iter().map(|a| (a.id, a)).collect())
}

fn unique(ids: impl Iterator<Item = i64>) -> Vec<i64> {
    let mut ids: Vec<i64> = ids.collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Tickets with what a queue line shows, in the order of `ids`.
async fn ticket_rows(db: &impl ConnectionTrait, ids: &[i64]) -> Result<Vec<TicketRow>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let tickets: HashMap<i64, Ticket> = ticket::Entity::find()
        .filter(ticket::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let customers: HashMap<i64, Customer> = customer::Entity::find()
        .filter(customer::Column::Id.is_in(unique(tickets.values().map(|t| t.customer_id))))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let department_ids = unique(tickets.values().filter_map(|t| t.department_id));
    let departments: HashMap<i64, Department> = if department_ids.is_empty() {
        HashMap::new()
    } else {
        department::Entity::find()
            .filter(department::Column::Id.is_in(department_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|d| (d.id, d))
            .collect()
    };
    let assignees = agent_refs(db, unique(tickets.values().filter_map(|t| t.assignee_id))).await?;
    let counts: Vec<(i64, i64, Option<DateTime<Utc>>)> = message::Entity::find()
        .select_only()
        .column(message::Column::TicketId)
        .column_as(message::Column::Id.count(), "n")
        .column_as(message::Column::CreatedAt.max(), "last")
        .filter(message::Column::TicketId.is_in(ids.iter().copied()))
        .group_by(message::Column::TicketId)
        .into_tuple()
        .all(db)
        .await?;
    let counts: HashMap<i64, (i64, Option<DateTime<Utc>>)> = counts
        .into_iter()
        .map(|(id, n, last)| (id, (n, last)))
        .collect();
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(ticket) = tickets.get(id).cloned() else {
            continue;
        };
        let Some(customer) = customers.get(&ticket.customer_id).cloned() else {
            return Err(DbErr::RecordNotFound(format!(
                "customer {} of ticket {}",
                ticket.customer_id, ticket.number
            )));
        };
        let (n, last) = counts.get(id).copied().unwrap_or((0, None));
        rows.push(TicketRow {
            department: ticket
                .department_id
                .and_then(|d| departments.get(&d).cloned()),
            assignee: ticket.assignee_id.and_then(|a| assignees.get(&a).cloned()),
            ticket,
            customer,
            message_count: u64::try_from(n).unwrap_or(0),
            last_message_at: last,
        });
    }
    Ok(rows)
}

/// The canonical form of a number typed in any digit system (or the text as it is, which then
/// finds nothing).
/// The stored form of a ticket number written in any digit system (as given when invalid).
pub fn canonical_number(number: &str) -> String {
    TicketNumber::parse(number)
        .map(|n| n.as_str().to_string())
        .unwrap_or_else(|_| number.trim().to_string())
}

/// One ticket as a queue line (for answers after a change).
pub async fn ticket_row(
    db: &impl ConnectionTrait,
    number: &str,
) -> Result<Option<TicketRow>, DbErr> {
    let Some(found) = super::tickets::find_by_number(db, &canonical_number(number)).await? else {
        return Ok(None);
    };
    Ok(ticket_rows(db, &[found.id]).await?.into_iter().next())
}

/// A message without its raw source.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct MessageView {
    pub id: i64,
    pub ticket_id: i64,
    pub direction: String,
    pub channel: String,
    pub author_agent_id: Option<i64>,
    pub author: Option<String>,
    pub body_text: String,
    pub quoted_text: Option<String>,
    pub body_html: Option<String>,
    /// As in the header, with angle brackets.
    pub message_id: Option<String>,
    pub provider_message_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An attachment without its content.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct AttachmentMeta {
    pub id: i64,
    pub message_id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub refused: bool,
    pub refused_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadMessage {
    pub message: MessageView,
    pub attachments: Vec<AttachmentMeta>,
}

/// One ticket and everything an agent reads with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketDetail {
    pub ticket: Ticket,
    pub customer: Customer,
    pub department: Option<Department>,
    pub assignee: Option<AgentRef>,
    /// Oldest first.
    pub messages: Vec<ThreadMessage>,
    /// The ticket's notifications, oldest first (`ticket_message_id` links agents' replies).
    pub outbox: Vec<OutboxItem>,
    /// The customer's other tickets, newest first, at most 20.
    pub other_tickets: Vec<Ticket>,
    /// Oldest first.
    pub events: Vec<TicketEvent>,
}

impl TicketDetail {
    /// The notifications that carried message `message_id` (an agent's reply).
    pub fn deliveries_of(&self, message_id: i64) -> impl Iterator<Item = &OutboxItem> {
        self.outbox
            .iter()
            .filter(move |o| o.ticket_message_id == Some(message_id))
    }

    /// The id of the newest message (for collision checks), if any.
    pub fn newest_message_id(&self) -> Option<i64> {
        self.messages.iter().map(|m| m.message.id).max()
    }
}

/// The ticket with number `number` (any digit system), with its thread and surroundings.
pub async fn ticket_detail(
    db: &impl ConnectionTrait,
    number: &str,
) -> Result<Option<TicketDetail>, DbErr> {
    let Some(found) = super::tickets::find_by_number(db, &canonical_number(number)).await? else {
        return Ok(None);
    };
    let Some(row) = ticket_rows(db, &[found.id]).await?.into_iter().next() else {
        return Ok(None);
    };
    let ticket_id = row.ticket.id;
    let messages: Vec<MessageView> = message::Entity::find()
        .select_only()
        .columns([
            message::Column::Id,
            message::Column::TicketId,
            message::Column::Direction,
            message::Column::Channel,
            message::Column::AuthorAgentId,
            message::Column::Author,
            message::Column::BodyText,
            message::Column::QuotedText,
            message::Column::BodyHtml,
            message::Column::MessageId,
            message::Column::ProviderMessageId,
            message::Column::CreatedAt,
        ])
        .filter(message::Column::TicketId.eq(ticket_id))
        .order_by_asc(message::Column::Id)
        .into_model()
        .all(db)
        .await?;
    let mut attachments: HashMap<i64, Vec<AttachmentMeta>> = HashMap::new();
    if !messages.is_empty() {
        let metas: Vec<AttachmentMeta> = attachment::Entity::find()
            .select_only()
            .columns([
                attachment::Column::Id,
                attachment::Column::MessageId,
                attachment::Column::Filename,
                attachment::Column::ContentType,
                attachment::Column::Size,
                attachment::Column::Sha256,
                attachment::Column::Refused,
                attachment::Column::RefusedReason,
                attachment::Column::CreatedAt,
            ])
            .filter(attachment::Column::MessageId.is_in(messages.iter().map(|m| m.id)))
            .order_by_asc(attachment::Column::Id)
            .into_model()
            .all(db)
            .await?;
        for meta in metas {
            attachments.entry(meta.message_id).or_default().push(meta);
        }
    }
    let messages = messages
        .into_iter()
        .map(|message| ThreadMessage {
            attachments: attachments.remove(&message.id).unwrap_or_default(),
            message,
        })
        .collect();
    let outbox = super::outbox::of_ticket(db, ticket_id).await?;
    let other_tickets = ticket::Entity::find()
        .filter(ticket::Column::CustomerId.eq(row.ticket.customer_id))
        .filter(ticket::Column::Id.ne(ticket_id))
        .order_by_desc(ticket::Column::CreatedAt)
        .order_by_desc(ticket::Column::Id)
        .limit(OTHER_TICKETS)
        .all(db)
        .await?;
    let events = ticket_event::Entity::find()
        .filter(ticket_event::Column::TicketId.eq(ticket_id))
        .order_by_asc(ticket_event::Column::Id)
        .all(db)
        .await?;
    Ok(Some(TicketDetail {
        ticket: row.ticket,
        customer: row.customer,
        department: row.department,
        assignee: row.assignee,
        messages,
        outbox,
        other_tickets,
        events,
    }))
}

/// An inbound receipt without its raw source, with its ticket's number.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct ReceiptRow {
    pub id: i64,
    pub source: String,
    pub external_id: String,
    pub channel: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub ticket_id: Option<i64>,
    pub message_id: Option<i64>,
    pub sender: Option<String>,
    pub subject: Option<String>,
    pub bounced_recipient: Option<String>,
    pub bounce_status: Option<String>,
    pub attempts: i32,
    pub received_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// 1 when the raw message was kept (a dead letter that `inbound retry` can run again).
    pub has_raw_source: i32,
    #[sea_orm(skip)]
    pub ticket_number: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptPage {
    pub rows: Vec<ReceiptRow>,
    pub total: u64,
}

/// Receipts newest first, optionally of one outcome, with the exact total.
pub async fn list_receipts(
    db: &impl ConnectionTrait,
    outcome: Option<&str>,
    page: u64,
    per_page: u64,
) -> Result<ReceiptPage, DbErr> {
    let (page, per_page) = clamp_paging(page, per_page);
    let mut condition = Condition::all();
    if let Some(outcome) = outcome {
        condition = condition.add(inbound_receipt::Column::Outcome.eq(outcome));
    }
    let total = inbound_receipt::Entity::find()
        .select_only()
        .column(inbound_receipt::Column::Id)
        .filter(condition.clone())
        .count(db)
        .await?;
    let mut rows: Vec<ReceiptRow> = inbound_receipt::Entity::find()
        .select_only()
        .columns([
            inbound_receipt::Column::Id,
            inbound_receipt::Column::Source,
            inbound_receipt::Column::ExternalId,
            inbound_receipt::Column::Channel,
            inbound_receipt::Column::Outcome,
            inbound_receipt::Column::Reason,
            inbound_receipt::Column::TicketId,
            inbound_receipt::Column::MessageId,
            inbound_receipt::Column::Sender,
            inbound_receipt::Column::Subject,
            inbound_receipt::Column::BouncedRecipient,
            inbound_receipt::Column::BounceStatus,
            inbound_receipt::Column::Attempts,
            inbound_receipt::Column::ReceivedAt,
            inbound_receipt::Column::UpdatedAt,
        ])
        .column_as(
            Into::<Expr>::into(
                Expr::case(inbound_receipt::Column::RawSource.is_null(), 0).finally(1),
            ),
            "has_raw_source",
        )
        .filter(condition)
        .order_by_desc(inbound_receipt::Column::Id)
        .offset(offset_of(page, per_page))
        .limit(per_page)
        .into_model()
        .all(db)
        .await?;
    let numbers = ticket_numbers(db, unique(rows.iter().filter_map(|r| r.ticket_id))).await?;
    for row in &mut rows {
        row.ticket_number = row.ticket_id.and_then(|id| numbers.get(&id).cloned());
    }
    Ok(ReceiptPage { rows, total })
}

async fn ticket_numbers(
    db: &impl ConnectionTrait,
    ids: Vec<i64>,
) -> Result<HashMap<i64, String>, DbErr> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let pairs: Vec<(i64, String)> = ticket::Entity::find()
        .select_only()
        .column(ticket::Column::Id)
        .column(ticket::Column::Number)
        .filter(ticket::Column::Id.is_in(ids))
        .into_tuple()
        .all(db)
        .await?;
    Ok(pairs.into_iter().collect())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub item: OutboxItem,
    pub ticket_number: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxPage {
    pub rows: Vec<OutboxRow>,
    pub total: u64,
}

/// Notifications newest first, optionally of one status, with the exact total.
pub async fn list_outbox(
    db: &impl ConnectionTrait,
    status: Option<&str>,
    page: u64,
    per_page: u64,
) -> Result<OutboxPage, DbErr> {
    let (page, per_page) = clamp_paging(page, per_page);
    let mut condition = Condition::all();
    if let Some(status) = status {
        condition = condition.add(outbox_item::Column::Status.eq(status));
    }
    let total = outbox_item::Entity::find()
        .select_only()
        .column(outbox_item::Column::Id)
        .filter(condition.clone())
        .count(db)
        .await?;
    let items = outbox_item::Entity::find()
        .filter(condition)
        .order_by_desc(outbox_item::Column::Id)
        .offset(offset_of(page, per_page))
        .limit(per_page)
        .all(db)
        .await?;
    let numbers = ticket_numbers(db, unique(items.iter().map(|i| i.ticket_id))).await?;
    let rows = items
        .into_iter()
        .map(|item| OutboxRow {
            ticket_number: numbers.get(&item.ticket_id).cloned().unwrap_or_default(),
            item,
        })
        .collect();
    Ok(OutboxPage { rows, total })
}

/// An attachment with its content (`None` content when it was refused).
pub async fn attachment(db: &impl ConnectionTrait, id: i64) -> Result<Option<Attachment>, DbErr> {
    attachment::Entity::find_by_id(id).one(db).await
}

/// The number of the ticket an attachment belongs to (for links back).
pub async fn ticket_number_of_attachment(
    db: &impl ConnectionTrait,
    attachment_id: i64,
) -> Result<Option<String>, DbErr> {
    let Some(message_id) = attachment::Entity::find_by_id(attachment_id)
        .select_only()
        .column(attachment::Column::MessageId)
        .into_tuple::<i64>()
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let Some(ticket_id) = message::Entity::find_by_id(message_id)
        .select_only()
        .column(message::Column::TicketId)
        .into_tuple::<i64>()
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(ticket_numbers(db, vec![ticket_id])
        .await?
        .remove(&ticket_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::digits::{to_arabic_indic_digits, to_persian_digits};

    #[test]
    fn search_texts_are_read_in_order() {
        let number = TicketNumber::from_body([4, 8, 1, 5, 9, 2]);
        let n = number.as_str().to_string();
        assert_eq!(parse_search(&n, "IR"), Some(Search::Number(n.clone())));
        assert_eq!(
            parse_search(&to_persian_digits(&n), "IR"),
            Some(Search::Number(n.clone()))
        );
        assert_eq!(
            parse_search(&format!(" #{}", to_arabic_indic_digits(&n)), "IR"),
            Some(Search::Number(n.clone()))
        );
        assert_eq!(
            parse_search("Ali@Example.COM", "IR"),
            Some(Search::Email("ali@example.com".into()))
        );
        assert_eq!(
            parse_search("ali@", "IR"),
            Some(Search::Email("ali@".into()))
        );
        assert_eq!(
            parse_search("۰۹۱۲ ۱۲۳ ۴۵۶۷", "IR"),
            Some(Search::Phone("+989121234567".into()))
        );
        assert_eq!(
            parse_search("+989121234567", "IR"),
            Some(Search::Phone("+989121234567".into()))
        );
        assert_eq!(
            parse_search("۴۸۱", "IR"),
            Some(Search::NumberPrefix("481".into()))
        );
        assert_eq!(
            parse_search(&number.mistyped(), "IR"),
            Some(Search::Subject(number.mistyped()))
        );
        assert_eq!(
            parse_search("  Slow Line ", "IR"),
            Some(Search::Subject("Slow Line".into()))
        );
        assert_eq!(parse_search("   ", "IR"), None);
    }

    #[test]
    fn number_prefixes_become_ranges() {
        assert_eq!(next_digit_string("129").as_deref(), Some("13"));
        assert_eq!(next_digit_string("4").as_deref(), Some("5"));
        assert_eq!(next_digit_string("1999").as_deref(), Some("2"));
        assert_eq!(next_digit_string("99"), None);
    }

    #[test]
    fn like_patterns_take_wildcards_literally() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
    }

    #[test]
    fn paging_is_clamped() {
        assert_eq!(clamp_paging(0, 0), (1, 1));
        assert_eq!(clamp_paging(3, 1000), (3, MAX_PER_PAGE));
        assert_eq!(offset_of(3, 50), 100);
        assert_eq!(offset_of(u64::MAX, u64::MAX), u64::MAX);
    }
}
