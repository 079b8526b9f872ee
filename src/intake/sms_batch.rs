//! A batch of inbound SMS, set at a time: the same outcome as running each message through
//! [`Intake::ingest_one`] in order, with about ten statements for the whole batch instead of
//! six to ten per message.
//!
//! 1. Reads: the receipts of the batch's provider ids, the customers of its phones, their
//!    newest open tickets, and the tickets named by numbers at the start of the texts, one
//!    query each; customers seen for the first time are inserted in one statement.
//! 2. Decisions, message by message in arrival order, in memory: the same
//!    [`threading::decide`] on candidates that include what earlier messages of the batch did
//!    (a ticket opened by the first message of a phone takes the second as a reply; a repeated
//!    provider id stores nothing; the flood guard counts as before).
//! 3. Writes: one multi-row statement per table (tickets, their updates, events, outbox,
//!    messages, receipts).
//!
//! Only plain SMS take this path (no email, attachments, threading headers, department or
//! sender name). A provider id reused for a different text (which is rekeyed by its content
//! hash) sends the whole batch down the item-by-item path, decided before anything is written.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;

use super::receipts::{raw_or_text, sender_text};
use super::ticketing::{first_contact_language, new_ticket_subject};
use super::{InboundItem, Intake, IntakeOutcome, IntakeResult, acknowledge};
use crate::domain::classify::IgnoreReason;
use crate::domain::message::InboundMessage;
use crate::domain::threading::{
    self, ThreadCandidates, ThreadDecision, ThreadKeys, TicketSnapshot,
};
use crate::domain::ticket::{Channel, Direction, TicketEventKind, TicketStatus};
use crate::domain::ticket_number::TicketNumber;
use crate::store::inbound::{NewReceipt, Receipt};
use crate::store::outbox::NewNotification;
use crate::store::sms_batch::{self as batch_store, NewEvent, NewPhoneCustomer};
use crate::store::tickets::{Customer, NewMessage, NewTicket};
use crate::store::{self, DbErr};

/// Draws of ticket numbers before giving up (as `store::tickets::create_ticket`).
const NUMBER_ROUNDS: usize = 50;

/// The messages of `items` when every one can take the batch path.
pub(super) fn plain_sms(items: &[InboundItem]) -> Option<Vec<&InboundMessage>> {
    items
        .iter()
        .map(|item| match item {
            InboundItem::Parsed(m) if is_plain_sms(m) => Some(&**m),
            _ => None,
        })
        .collect()
}

fn is_plain_sms(m: &InboundMessage) -> bool {
    m.channel == Channel::Sms
        && m.sender.phone.is_some()
        && m.sender.email.is_none()
        && m.sender.name.is_none()
        && m.subject.is_none()
        && m.html.is_none()
        && m.attachments.is_empty()
        && m.message_id.is_none()
        && m.in_reply_to.is_empty()
        && m.references.is_empty()
        && m.raw.is_none()
        && m.department.is_none()
}

/// A ticket as the batch refers to it: stored before, or the n-th opened by this batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum TicketRef {
    Stored(i64),
    New(usize),
}

impl TicketRef {
    /// The id threading works with: stored ids are positive, new tickets get negative ones.
    fn thread_id(self) -> i64 {
        match self {
            TicketRef::Stored(id) => id,
            TicketRef::New(index) => -1 - index as i64,
        }
    }

    fn of_thread_id(id: i64) -> Self {
        if id < 0 {
            TicketRef::New(usize::try_from(-1 - id).unwrap_or(usize::MAX))
        } else {
            TicketRef::Stored(id)
        }
    }
}

/// What becomes of one message, decided before the tickets are known.
enum Step {
    /// A repeat of a stored receipt.
    Repeat(Box<Receipt>),
    /// A repeat of an earlier message of this batch.
    RepeatInBatch(usize),
    /// Nothing written: an `ignored` receipt (reason `empty`).
    Empty,
    /// Threaded into a ticket.
    Ticket,
}

/// What the batch writes, with tickets referred to by [`TicketRef`].
#[derive(Default)]
struct Writes<'m> {
    tickets: Vec<NewTicketRow>,
    /// Stored tickets the customer wrote in again.
    bumped: Vec<i64>,
    status_changes: Vec<(TicketRef, TicketStatus)>,
    events: Vec<(TicketRef, NewEvent)>,
    notifications: Vec<(TicketRef, NewNotification)>,
    messages: Vec<(TicketRef, &'m InboundMessage, Option<String>)>,
    /// Per receipt: the message, its outcome and reason, its ticket and message (index).
    receipts: Vec<PendingReceipt<'m>>,
}

/// A ticket this batch opens.
struct NewTicketRow {
    number: TicketNumber,
    subject: String,
    customer_id: i64,
    follows_ticket_id: Option<i64>,
    noted_reference: Option<String>,
}

struct PendingReceipt<'m> {
    message: &'m InboundMessage,
    outcome: IntakeOutcome,
    reason: Option<String>,
    ticket: Option<TicketRef>,
    message_index: Option<usize>,
    fingerprint: String,
}

/// Free ticket numbers, checked against the store a round at a time.
struct NumberPool {
    free: Vec<TicketNumber>,
    handed_out: HashSet<TicketNumber>,
    rounds: usize,
}

impl NumberPool {
    fn new() -> Self {
        Self {
            free: Vec::new(),
            handed_out: HashSet::new(),
            rounds: 0,
        }
    }

    /// A free number; when none is left, `wanted` are drawn and checked in one query.
    async fn next(
        &mut self,
        txn: &DatabaseTransaction,
        wanted: usize,
    ) -> Result<TicketNumber, DbErr> {
        loop {
            if let Some(number) = self.free.pop() {
                return Ok(number);
            }
            if self.rounds >= NUMBER_ROUNDS {
                return Err(DbErr::Custom(format!(
                    "no free ticket number after {NUMBER_ROUNDS} draws"
                )));
            }
            let drawn: Vec<TicketNumber> = {
                let mut rng = rand::rng();
                let mut drawn: Vec<TicketNumber> = Vec::new();
                for _ in 0..wanted.max(1) {
                    let number = TicketNumber::random_for_attempt(&mut rng, self.rounds);
                    if !self.handed_out.contains(&number) && !drawn.contains(&number) {
                        drawn.push(number);
                    }
                }
                drawn
            };
            self.rounds += 1;
            let asked: Vec<&str> = drawn.iter().map(TicketNumber::as_str).collect();
            let taken = batch_store::taken_numbers(txn, &asked).await?;
            for number in drawn.into_iter().rev() {
                if !taken.contains(number.as_str()) {
                    self.handed_out.insert(number.clone());
                    self.free.push(number);
                }
            }
        }
    }
}

/// The tickets the batch has seen, as they stand after the messages decided so far.
#[derive(Default)]
struct Tickets {
    by_id: HashMap<i64, TicketSnapshot>,
    by_number: HashMap<TicketNumber, i64>,
    /// Per customer: their newest ticket that is not closed, as the store would find it now.
    newest_open_of_customer: HashMap<i64, i64>,
    /// Per customer: the newest of the tickets this batch wrote to.
    newest_written_of_customer: HashMap<i64, i64>,
}

/// The order the store picks "the newest" ticket in: by `updated_at`, then by id (the tickets
/// this batch opens come after every stored one, in the order they are opened).
fn recency(ticket: &TicketSnapshot) -> (DateTime<Utc>, bool, i64) {
    match TicketRef::of_thread_id(ticket.id) {
        TicketRef::Stored(id) => (ticket.updated_at, false, id),
        TicketRef::New(index) => (ticket.updated_at, true, index as i64),
    }
}

impl Tickets {
    fn know(&mut self, ticket: TicketSnapshot) {
        self.by_number.insert(ticket.number.clone(), ticket.id);
        self.by_id.entry(ticket.id).or_insert(ticket);
    }

    fn get(&self, id: i64) -> Option<TicketSnapshot> {
        self.by_id.get(&id).cloned()
    }

    /// The newer of `candidate` and the ticket `current` names.
    fn newer(&self, current: Option<i64>, candidate: i64) -> i64 {
        let recency_of = |id: i64| self.by_id.get(&id).map(recency);
        match current {
            Some(current) if recency_of(current) > recency_of(candidate) => current,
            _ => candidate,
        }
    }

    /// A message of the customer went into `ticket` at `now`, which leaves it with `status`.
    fn written(&mut self, id: i64, status: TicketStatus, now: DateTime<Utc>) {
        let Some(ticket) = self.by_id.get_mut(&id) else {
            return;
        };
        ticket.updated_at = now;
        if ticket.status != status {
            ticket.status = status;
            if status != TicketStatus::Closed {
                ticket.closed_at = None;
            }
        }
        let customer = ticket.customer_id;
        if status != TicketStatus::Closed {
            let newest = self.newer(self.newest_open_of_customer.get(&customer).copied(), id);
            self.newest_open_of_customer.insert(customer, newest);
        }
        let newest = self.newer(self.newest_written_of_customer.get(&customer).copied(), id);
        self.newest_written_of_customer.insert(customer, newest);
    }
}

impl Intake {
    /// Runs a batch of plain SMS (see [`plain_sms`]) set at a time. `None` when the batch must
    /// go item by item instead; then nothing was written and no flood budget was used.
    pub(super) async fn ingest_sms_batch(
        &self,
        txn: &DatabaseTransaction,
        messages: &[&InboundMessage],
    ) -> Result<Option<(Vec<IntakeResult>, bool)>, DbErr> {
        let now = self.clock.now();
        let started = std::time::Instant::now();
        let fingerprints: Vec<String> = messages.iter().map(|m| m.fingerprint()).collect();

        // Repeats, of stored receipts or within the batch.
        let mut stored_receipts: HashMap<(String, String), Receipt> = HashMap::new();
        let mut ids_by_source: HashMap<&str, Vec<&str>> = HashMap::new();
        for m in messages {
            ids_by_source
                .entry(m.source.as_str())
                .or_default()
                .push(m.external_id.as_str());
        }
        for (source, ids) in &ids_by_source {
            for receipt in batch_store::receipts_by_external_ids(txn, source, ids).await? {
                stored_receipts.insert(
                    (receipt.source.clone(), receipt.external_id.clone()),
                    receipt,
                );
            }
        }
        let mut first_of_id: HashMap<(&str, &str), usize> = HashMap::new();
        let mut steps = Vec::with_capacity(messages.len());
        for (index, m) in messages.iter().enumerate() {
            let key = (m.source.as_str(), m.external_id.as_str());
            if let Some(first) = stored_receipts.get(&(key.0.to_string(), key.1.to_string())) {
                let same = first
                    .fingerprint
                    .as_deref()
                    .is_none_or(|f| f == fingerprints[index])
                    || first.content_hash == m.content_hash;
                if !same {
                    // Rekeyed by its content hash, item by item.
                    return Ok(None);
                }
                steps.push(Step::Repeat(Box::new(first.clone())));
            } else if let Some(&first) = first_of_id.get(&key) {
                let same = fingerprints[first] == fingerprints[index]
                    || messages[first].content_hash == m.content_hash;
                if !same {
                    return Ok(None);
                }
                steps.push(Step::RepeatInBatch(first));
            } else {
                first_of_id.insert(key, index);
                steps.push(if m.is_empty() {
                    Step::Empty
                } else {
                    Step::Ticket
                });
            }
        }

        // Customers: found by phone, or created with the language of their first message.
        let mut customers: HashMap<String, Customer> = HashMap::new();
        let mut phones: Vec<&str> = Vec::new();
        for (m, step) in messages.iter().zip(&steps) {
            if let (Step::Ticket, Some(phone)) = (step, &m.sender.phone)
                && !phones.contains(&phone.as_str())
            {
                phones.push(phone.as_str());
            }
        }
        for customer in batch_store::customers_by_phones(txn, &phones).await? {
            if let Some(phone) = customer.phone.clone() {
                customers.insert(phone, customer);
            }
        }
        let stored_customers: Vec<i64> = customers.values().map(|c| c.id).collect();
        let mut new_customers: Vec<NewPhoneCustomer<'_>> = Vec::new();
        for (m, step) in messages.iter().zip(&steps) {
            if let (Step::Ticket, Some(phone)) = (step, &m.sender.phone)
                && !customers.contains_key(phone.as_str())
                && !new_customers.iter().any(|c| c.phone == phone)
            {
                new_customers.push(NewPhoneCustomer {
                    phone,
                    language: first_contact_language(m),
                });
            }
        }
        for customer in batch_store::insert_phone_customers(txn, &new_customers, now).await? {
            if let Some(phone) = customer.phone.clone() {
                customers.insert(phone, customer);
            }
        }

        // The tickets threading may need: the customers' newest open ones, and those named.
        let mut tickets = Tickets::default();
        for ticket in batch_store::newest_open_of_customers(txn, &stored_customers).await? {
            tickets
                .newest_open_of_customer
                .insert(ticket.customer_id, ticket.id);
            tickets.know(ticket);
        }
        let keys: Vec<Option<ThreadKeys>> = messages
            .iter()
            .zip(&steps)
            .map(|(m, step)| {
                matches!(step, Step::Ticket)
                    .then(|| ThreadKeys::extract(Channel::Sms, None, &m.text, &[], &[]))
            })
            .collect();
        let named: Vec<&str> = keys
            .iter()
            .flatten()
            .filter_map(|k| k.named_number().map(TicketNumber::as_str))
            .collect();
        if !named.is_empty() {
            for ticket in batch_store::snapshots_by_numbers(txn, &named).await? {
                tickets.know(ticket);
            }
        }

        // Decisions, in arrival order.
        let mut writes = Writes::default();
        let mut numbers = NumberPool::new();
        let mut results: Vec<IntakeResult> = Vec::with_capacity(messages.len());
        let mut enqueued = false;
        let ticketed_total = steps.iter().filter(|s| matches!(s, Step::Ticket)).count();
        let mut ticketed_so_far = 0;
        for (index, m) in messages.iter().enumerate() {
            let result = match &steps[index] {
                Step::Repeat(receipt) => IntakeResult {
                    outcome: IntakeOutcome::parse(&receipt.outcome).unwrap_or(IntakeOutcome::Error),
                    // Filled in below, all in one query.
                    ticket_number: None,
                    reason: receipt.reason.clone(),
                    duplicate: true,
                },
                Step::RepeatInBatch(first) => IntakeResult {
                    duplicate: true,
                    ..results[*first].clone()
                },
                Step::Empty => {
                    let reason = Some(IgnoreReason::Empty.as_str().to_string());
                    writes.receipts.push(PendingReceipt {
                        message: m,
                        outcome: IntakeOutcome::Ignored,
                        reason: reason.clone(),
                        ticket: None,
                        message_index: None,
                        fingerprint: fingerprints[index].clone(),
                    });
                    IntakeResult {
                        outcome: IntakeOutcome::Ignored,
                        ticket_number: None,
                        reason,
                        duplicate: false,
                    }
                }
                Step::Ticket => {
                    ticketed_so_far += 1;
                    let phone = m.sender.phone.as_ref().map(|p| p.as_str()).unwrap_or("");
                    let customer = customers
                        .get(phone)
                        .ok_or_else(|| DbErr::RecordNotFound(format!("customer {phone}")))?;
                    let keys = keys[index].as_ref().ok_or(DbErr::RecordNotInserted)?;
                    let (result, notified) = self
                        .decide_and_plan(
                            txn,
                            m,
                            keys,
                            customer,
                            &fingerprints[index],
                            &mut tickets,
                            &mut numbers,
                            ticketed_total - ticketed_so_far + 1,
                            &mut writes,
                            now,
                        )
                        .await?;
                    enqueued |= notified;
                    result
                }
            };
            results.push(result);
        }

        // Ticket numbers of the repeats of stored receipts.
        let repeat_tickets: Vec<i64> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Repeat(receipt) => receipt.ticket_id,
                _ => None,
            })
            .collect();
        if !repeat_tickets.is_empty() {
            let numbers = batch_store::numbers_by_ids(txn, &repeat_tickets).await?;
            for (result, step) in results.iter_mut().zip(&steps) {
                if let Step::Repeat(receipt) = step {
                    result.ticket_number =
                        receipt.ticket_id.and_then(|id| numbers.get(&id).cloned());
                }
            }
        }

        let decided = started.elapsed();
        write(txn, writes, now).await?;
        tracing::trace!(
            messages = messages.len(),
            read_and_decided_micros = decided.as_micros() as u64,
            written_micros = (started.elapsed() - decided).as_micros() as u64,
            "SMS batch"
        );
        Ok(Some((results, enqueued)))
    }

    /// Threads one message (as `ticket_message` does) and records what it writes.
    #[allow(clippy::too_many_arguments)] // the batch's state, passed apart for the borrows
    async fn decide_and_plan<'m>(
        &self,
        txn: &DatabaseTransaction,
        m: &'m InboundMessage,
        keys: &ThreadKeys,
        customer: &Customer,
        fingerprint: &str,
        tickets: &mut Tickets,
        numbers: &mut NumberPool,
        tickets_still_wanted: usize,
        writes: &mut Writes<'m>,
        now: DateTime<Utc>,
    ) -> Result<(IntakeResult, bool), DbErr> {
        let mut candidates = ThreadCandidates {
            by_message_id: None,
            by_number: keys
                .named_number()
                .and_then(|n| tickets.by_number.get(n).copied())
                .and_then(|id| tickets.get(id)),
            newest_open_of_sender: tickets
                .newest_open_of_customer
                .get(&customer.id)
                .and_then(|&id| tickets.get(id)),
        };
        let decision = threading::decide(
            Channel::Sms,
            keys,
            &candidates,
            Some(customer.id),
            now,
            &self.rules.thread_policy,
        );
        let mut note: Option<String> = None;
        let decision = match decision {
            ThreadDecision::NewTicket { .. } => {
                match self
                    .flooded_into_batch(txn, m, customer.id, tickets)
                    .await?
                {
                    Some((ticket, flood_note)) => {
                        note = Some(flood_note);
                        candidates.flood_into(ticket)
                    }
                    None => decision,
                }
            }
            reply => reply,
        };

        let (ticket, number, outcome, reason, notified) = match decision {
            ThreadDecision::Reply {
                ticket_id,
                new_status,
                ..
            } => {
                let ticket = candidates
                    .get(ticket_id)
                    .cloned()
                    .ok_or_else(|| DbErr::RecordNotFound(format!("ticket {ticket_id}")))?;
                let reference = TicketRef::of_thread_id(ticket.id);
                if let TicketRef::Stored(id) = reference
                    && !writes.bumped.contains(&id)
                {
                    writes.bumped.push(id);
                }
                if let Some(status) = new_status {
                    writes.status_changes.push((reference, status));
                    let kind = if ticket.status == TicketStatus::Closed {
                        TicketEventKind::Reopened
                    } else {
                        TicketEventKind::Status
                    };
                    writes.events.push((
                        reference,
                        NewEvent {
                            ticket_id: 0,
                            kind,
                            old_value: Some(ticket.status.as_str().to_string()),
                            new_value: Some(status.as_str().to_string()),
                            actor: "customer",
                        },
                    ));
                }
                tickets.written(ticket.id, new_status.unwrap_or(ticket.status), now);
                (
                    reference,
                    ticket.number.to_string(),
                    IntakeOutcome::Reply,
                    note,
                    false,
                )
            }
            ThreadDecision::NewTicket {
                follows_ticket_id,
                noted_reference,
            } => {
                let number = numbers.next(txn, tickets_still_wanted).await?;
                let reference = TicketRef::New(writes.tickets.len());
                let subject = new_ticket_subject(m);
                let acknowledgement = acknowledge::plan(&self.rules, m, customer);
                writes.events.push((
                    reference,
                    NewEvent {
                        ticket_id: 0,
                        kind: TicketEventKind::Created,
                        old_value: None,
                        new_value: Some("open".to_string()),
                        actor: "customer",
                    },
                ));
                if let Some(previous) = follows_ticket_id {
                    writes.events.push((
                        reference,
                        NewEvent {
                            ticket_id: 0,
                            kind: TicketEventKind::Linked,
                            old_value: None,
                            new_value: Some(previous.to_string()),
                            actor: "system",
                        },
                    ));
                }
                let notified = acknowledgement.is_some();
                if let Some(plan) = acknowledgement {
                    let notification =
                        acknowledge::notification(plan, m, 0, number.as_str(), &subject, customer)?;
                    writes.notifications.push((reference, notification));
                }
                tickets.know(TicketSnapshot {
                    id: reference.thread_id(),
                    number: number.clone(),
                    customer_id: customer.id,
                    status: TicketStatus::Open,
                    updated_at: now,
                    closed_at: None,
                });
                tickets.written(reference.thread_id(), TicketStatus::Open, now);
                writes.tickets.push(NewTicketRow {
                    number: number.clone(),
                    subject,
                    customer_id: customer.id,
                    follows_ticket_id,
                    noted_reference: noted_reference.clone(),
                });
                let reason = match (noted_reference, note) {
                    (Some(reference), Some(note)) => Some(format!("{reference}; {note}")),
                    (reference, note) => reference.or(note),
                };
                (
                    reference,
                    number.to_string(),
                    IntakeOutcome::NewTicket,
                    reason,
                    notified,
                )
            }
        };
        writes.messages.push((ticket, m, sender_text(m)));
        writes.receipts.push(PendingReceipt {
            message: m,
            outcome,
            reason: reason.clone(),
            ticket: Some(ticket),
            message_index: Some(writes.messages.len() - 1),
            fingerprint: fingerprint.to_string(),
        });
        Ok((
            IntakeResult {
                outcome,
                ticket_number: Some(number),
                reason,
                duplicate: false,
            },
            notified,
        ))
    }

    /// As `flooded_into`, with the tickets this batch wrote to counting as the newest.
    async fn flooded_into_batch(
        &self,
        txn: &DatabaseTransaction,
        m: &InboundMessage,
        customer_id: i64,
        tickets: &mut Tickets,
    ) -> Result<Option<(TicketSnapshot, String)>, DbErr> {
        let Some(flood) = &self.flood else {
            return Ok(None);
        };
        let sender = sender_text(m).unwrap_or_default();
        if flood.allow_new_ticket(&sender) {
            return Ok(None);
        }
        // The store's newest, or a newer one this batch wrote to.
        let stored = store::tickets::newest_of_customer(txn, customer_id).await?;
        let stored = stored.map(|t| {
            let id = t.id;
            tickets.know(t);
            id
        });
        let written = tickets
            .newest_written_of_customer
            .get(&customer_id)
            .copied();
        let newest = match (stored, written) {
            (Some(stored), Some(written)) => tickets.get(tickets.newer(Some(stored), written)),
            (one, other) => one.or(other).and_then(|id| tickets.get(id)),
        };
        let Some(newest) = newest else {
            return Ok(None);
        };
        let note = format!(
            "held: over {} new tickets per hour from this sender; added to ticket {} without an acknowledgement",
            flood.per_hour(),
            newest.number
        );
        Ok(Some((newest, note)))
    }
}

/// Writes what the batch decided: tickets first (their ids are needed by the rest), then one
/// statement per table.
async fn write(
    txn: &DatabaseTransaction,
    writes: Writes<'_>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let Writes {
        tickets,
        bumped,
        status_changes,
        events,
        notifications,
        messages,
        receipts,
    } = writes;
    let new_ids = batch_store::insert_tickets(
        txn,
        tickets
            .iter()
            .map(|t| {
                (
                    t.number.as_str().to_string(),
                    NewTicket {
                        subject: &t.subject,
                        channel: Channel::Sms,
                        customer_id: t.customer_id,
                        department_id: None,
                        follows_ticket_id: t.follows_ticket_id,
                        noted_reference: t.noted_reference.clone(),
                        thread_message_id: None,
                        now,
                    },
                )
            })
            .collect(),
    )
    .await?;
    let id_of = |reference: TicketRef| -> Result<i64, DbErr> {
        match reference {
            TicketRef::Stored(id) => Ok(id),
            TicketRef::New(index) => new_ids.get(index).copied().ok_or(DbErr::RecordNotInserted),
        }
    };
    if !bumped.is_empty() {
        batch_store::bump_tickets(txn, &bumped, now).await?;
    }
    let mut statuses: Vec<TicketStatus> = Vec::new();
    for (_, status) in &status_changes {
        if !statuses.contains(status) {
            statuses.push(*status);
        }
    }
    for status in statuses {
        let ids = status_changes
            .iter()
            .filter(|(_, s)| *s == status)
            .map(|(reference, _)| id_of(*reference))
            .collect::<Result<Vec<_>, _>>()?;
        batch_store::set_statuses(txn, &ids, status).await?;
    }
    if !events.is_empty() {
        let events = events
            .into_iter()
            .map(|(reference, event)| {
                Ok(NewEvent {
                    ticket_id: id_of(reference)?,
                    ..event
                })
            })
            .collect::<Result<Vec<_>, DbErr>>()?;
        batch_store::insert_events(txn, events, now).await?;
    }
    if !notifications.is_empty() {
        let notifications = notifications
            .into_iter()
            .map(|(reference, notification)| {
                Ok(NewNotification {
                    ticket_id: id_of(reference)?,
                    ..notification
                })
            })
            .collect::<Result<Vec<_>, DbErr>>()?;
        batch_store::insert_notifications(txn, notifications, now).await?;
    }
    let message_ids = if messages.is_empty() {
        Vec::new()
    } else {
        let rows = messages
            .iter()
            .map(|(reference, m, author)| {
                Ok(NewMessage {
                    ticket_id: id_of(*reference)?,
                    direction: Direction::Inbound,
                    channel: m.channel,
                    author_agent_id: None,
                    author: author.as_deref(),
                    body_text: &m.text,
                    quoted_text: None,
                    body_html: None,
                    message_id: None,
                    in_reply_to: None,
                    references: None,
                    provider_message_id: m.provider_message_id.as_deref(),
                    raw_source: None,
                    now,
                })
            })
            .collect::<Result<Vec<_>, DbErr>>()?;
        batch_store::insert_messages(txn, rows).await?
    };
    let receipts = receipts
        .into_iter()
        .map(|r| {
            let m = r.message;
            let ticketed = r.ticket.is_some();
            Ok(NewReceipt {
                source: &m.source,
                external_id: &m.external_id,
                channel: m.channel.as_str(),
                outcome: r.outcome.as_str(),
                reason: r.reason,
                ticket_id: r.ticket.map(id_of).transpose()?,
                message_id: match r.message_index {
                    Some(index) => Some(
                        message_ids
                            .get(index)
                            .copied()
                            .ok_or(DbErr::RecordNotInserted)?,
                    ),
                    None => None,
                },
                sender: sender_text(m),
                subject: m.subject.clone(),
                content_hash: &m.content_hash,
                fingerprint: Some(r.fingerprint),
                bounced_recipient: None,
                bounce_status: None,
                // What did not become a message is kept whole.
                raw_source: (!ticketed).then(|| raw_or_text(m)),
                received_at: m.received_at,
            })
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    if !receipts.is_empty() {
        batch_store::insert_receipts(txn, receipts).await?;
    }
    Ok(())
}
