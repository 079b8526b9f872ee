//! Set-at-a-time queries for a batch of inbound SMS (see `intake::sms_batch`): one statement
//! per table and step for the whole batch instead of one per message, so a group commit of
//! N webhooks costs about ten statements, not N × ten.
//!
//! Multi-row INSERTs that must hand back ids use `RETURNING` with a key that is unique within
//! the statement (customers by phone, tickets by number, messages by ticket and provider id),
//! since neither SQLite nor PostgreSQL promises the order of `RETURNING` rows.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, NotSet, QueryFilter, QuerySelect,
    QueryTrait, Set, Statement, Value,
};

use super::DbErr;
use super::entities::{customer, inbound_receipt, message, outbox_item, ticket, ticket_event};
use super::inbound::{NewReceipt, Receipt, receipt_row};
use super::outbox::{NewNotification, notification_row};
use super::tickets::{Customer, NewMessage, NewTicket, message_row, snapshot_of, ticket_row};
use crate::domain::contact::PhoneNumber;
use crate::domain::threading::TicketSnapshot;
use crate::domain::ticket::{Language, TicketEventKind, TicketStatus};

/// Values in one `IN (...)` list at most (far below either backend's parameter limit).
const IN_CHUNK: usize = 500;
/// Rows in one multi-row INSERT at most (15–22 columns each).
const INSERT_CHUNK: usize = 200;

/// The receipts of `source` with any of these external ids.
pub async fn receipts_by_external_ids(
    db: &impl ConnectionTrait,
    source: &str,
    external_ids: &[&str],
) -> Result<Vec<Receipt>, DbErr> {
    let mut found = Vec::new();
    for chunk in external_ids.chunks(IN_CHUNK) {
        found.extend(
            inbound_receipt::Entity::find()
                .filter(inbound_receipt::Column::Source.eq(source))
                .filter(text_in(db, inbound_receipt::Column::ExternalId, chunk))
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

/// The customers with any of these phone numbers (E.164).
pub async fn customers_by_phones(
    db: &impl ConnectionTrait,
    phones: &[&str],
) -> Result<Vec<Customer>, DbErr> {
    let mut found = Vec::new();
    for chunk in phones.chunks(IN_CHUNK) {
        found.extend(
            customer::Entity::find()
                .filter(text_in(db, customer::Column::Phone, chunk))
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

/// A customer known only by phone, first seen in this batch.
pub struct NewPhoneCustomer<'a> {
    pub phone: &'a PhoneNumber,
    pub language: Language,
}

/// Inserts customers known by phone (distinct phones) and returns them with their ids.
pub async fn insert_phone_customers(
    db: &impl ConnectionTrait,
    new: &[NewPhoneCustomer<'_>],
    now: DateTime<Utc>,
) -> Result<Vec<Customer>, DbErr> {
    let mut created = Vec::with_capacity(new.len());
    for chunk in new.chunks(INSERT_CHUNK) {
        let rows = chunk.iter().map(|c| customer::ActiveModel {
            id: NotSet,
            name: Set(None),
            email: Set(None),
            phone: Set(Some(c.phone.as_str().to_string())),
            language: Set(Some(c.language.as_str().to_string())),
            channel_preference: Set(None),
            email_bounced_at: Set(None),
            phone_bounced_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        });
        let mut insert = customer::Entity::insert_many(rows).into_query();
        insert
            .returning(Query::returning().columns([customer::Column::Id, customer::Column::Phone]));
        let ids: HashMap<String, i64> = db
            .query_all(&insert)
            .await?
            .iter()
            .map(|row| Ok((row.try_get("", "phone")?, row.try_get("", "id")?)))
            .collect::<Result<_, DbErr>>()?;
        for c in chunk {
            let id = *ids
                .get(c.phone.as_str())
                .ok_or_else(|| DbErr::RecordNotInserted)?;
            created.push(Customer {
                id,
                name: None,
                email: None,
                phone: Some(c.phone.as_str().to_string()),
                language: Some(c.language.as_str().to_string()),
                channel_preference: None,
                email_bounced_at: None,
                phone_bounced_at: None,
                created_at: now,
                updated_at: now,
            });
        }
    }
    Ok(created)
}

/// For each of these customers, their most recently updated ticket that is not closed (as
/// [`super::tickets::newest_open_of_customer`], ties going to the newer ticket).
pub async fn newest_open_of_customers(
    db: &impl ConnectionTrait,
    customer_ids: &[i64],
) -> Result<Vec<TicketSnapshot>, DbErr> {
    let backend = db.get_database_backend();
    let mut found = Vec::new();
    for chunk in customer_ids.chunks(IN_CHUNK) {
        // One index probe per customer on (customer_id, updated_at).
        let mut values: Vec<Value> = vec![TicketStatus::Closed.as_str().into()];
        let ids = if backend == DbBackend::Postgres {
            values.push(pg_array(chunk.iter().map(i64::to_string)).into());
            "IN (SELECT unnest(CAST($2 AS bigint[])))".to_string()
        } else {
            values.extend(chunk.iter().map(|&id| Value::from(id)));
            format!("IN ({})", vec!["?"; chunk.len()].join(", "))
        };
        let sql = format!(
            "SELECT * FROM tickets WHERE id IN (SELECT (SELECT t.id FROM tickets t \
             WHERE t.customer_id = c.id AND t.status <> {closed} \
             ORDER BY t.updated_at DESC, t.id DESC LIMIT 1) FROM customers c WHERE c.id {ids})",
            closed = if backend == DbBackend::Postgres {
                "$1"
            } else {
                "?"
            },
        );
        let rows = ticket::Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(backend, sql, values))
            .all(db)
            .await?;
        found.extend(rows.iter().filter_map(snapshot_of));
    }
    Ok(found)
}

/// The tickets with any of these numbers.
pub async fn snapshots_by_numbers(
    db: &impl ConnectionTrait,
    numbers: &[&str],
) -> Result<Vec<TicketSnapshot>, DbErr> {
    let mut found = Vec::new();
    for chunk in numbers.chunks(IN_CHUNK) {
        let rows = ticket::Entity::find()
            .filter(text_in(db, ticket::Column::Number, chunk))
            .all(db)
            .await?;
        found.extend(rows.iter().filter_map(snapshot_of));
    }
    Ok(found)
}

/// Which of these ticket numbers are taken.
pub async fn taken_numbers(
    db: &impl ConnectionTrait,
    numbers: &[&str],
) -> Result<HashSet<String>, DbErr> {
    let mut taken = HashSet::new();
    for chunk in numbers.chunks(IN_CHUNK) {
        let rows: Vec<String> = ticket::Entity::find()
            .select_only()
            .column(ticket::Column::Number)
            .filter(text_in(db, ticket::Column::Number, chunk))
            .into_tuple()
            .all(db)
            .await?;
        taken.extend(rows);
    }
    Ok(taken)
}

/// The numbers of these tickets, by id.
pub async fn numbers_by_ids(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<HashMap<i64, String>, DbErr> {
    let mut numbers = HashMap::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let rows: Vec<(i64, String)> = ticket::Entity::find()
            .select_only()
            .column(ticket::Column::Id)
            .column(ticket::Column::Number)
            .filter(id_in(db, ticket::Column::Id, chunk))
            .into_tuple()
            .all(db)
            .await?;
        numbers.extend(rows);
    }
    Ok(numbers)
}

/// Inserts tickets (numbers distinct and free) and returns their ids in the given order.
pub async fn insert_tickets(
    db: &impl ConnectionTrait,
    new: Vec<(String, NewTicket<'_>)>,
) -> Result<Vec<i64>, DbErr> {
    let mut ids = Vec::with_capacity(new.len());
    let mut new = new.into_iter().peekable();
    while new.peek().is_some() {
        let chunk: Vec<_> = new.by_ref().take(INSERT_CHUNK).collect();
        let numbers: Vec<String> = chunk.iter().map(|(n, _)| n.clone()).collect();
        let rows = chunk.into_iter().map(|(number, t)| ticket_row(number, t));
        let mut insert = ticket::Entity::insert_many(rows).into_query();
        insert.returning(Query::returning().columns([ticket::Column::Id, ticket::Column::Number]));
        let by_number: HashMap<String, i64> = db
            .query_all(&insert)
            .await?
            .iter()
            .map(|row| Ok((row.try_get("", "number")?, row.try_get("", "id")?)))
            .collect::<Result<_, DbErr>>()?;
        for number in numbers {
            ids.push(*by_number.get(&number).ok_or(DbErr::RecordNotInserted)?);
        }
    }
    Ok(ids)
}

/// A customer wrote again in these tickets: `updated_at` is now, and the wait clock starts
/// where it was not running (as [`super::tickets::record_customer_reply`] without a status
/// change).
pub async fn bump_tickets(
    db: &impl ConnectionTrait,
    ids: &[i64],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    for chunk in ids.chunks(IN_CHUNK) {
        ticket::Entity::update_many()
            .col_expr(ticket::Column::UpdatedAt, Expr::value(now))
            .col_expr(
                ticket::Column::WaitingSince,
                Expr::col(ticket::Column::WaitingSince).if_null(now),
            )
            .filter(id_in(db, ticket::Column::Id, chunk))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Sets these tickets' status (clearing `closed_at` unless the status is closed).
pub async fn set_statuses(
    db: &impl ConnectionTrait,
    ids: &[i64],
    status: TicketStatus,
) -> Result<(), DbErr> {
    for chunk in ids.chunks(IN_CHUNK) {
        let mut update = ticket::Entity::update_many()
            .col_expr(ticket::Column::Status, Expr::value(status.as_str()))
            .filter(id_in(db, ticket::Column::Id, chunk));
        if status != TicketStatus::Closed {
            update = update.col_expr(
                ticket::Column::ClosedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            );
        }
        update.exec(db).await?;
    }
    Ok(())
}

/// One ticket event row.
pub struct NewEvent {
    pub ticket_id: i64,
    pub kind: TicketEventKind,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub actor: &'static str,
}

pub async fn insert_events(
    db: &impl ConnectionTrait,
    events: Vec<NewEvent>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        let rows = events
            .by_ref()
            .take(INSERT_CHUNK)
            .map(|e| ticket_event::ActiveModel {
                id: NotSet,
                ticket_id: Set(e.ticket_id),
                kind: Set(e.kind.as_str().to_string()),
                old_value: Set(e.old_value),
                new_value: Set(e.new_value),
                actor_agent_id: Set(None),
                actor: Set(e.actor.to_string()),
                created_at: Set(now),
            })
            .collect::<Vec<_>>();
        ticket_event::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

pub async fn insert_notifications(
    db: &impl ConnectionTrait,
    notifications: Vec<NewNotification>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut notifications = notifications.into_iter().peekable();
    while notifications.peek().is_some() {
        let rows = notifications
            .by_ref()
            .take(INSERT_CHUNK)
            .map(|n| notification_row(n, now))
            .collect::<Vec<_>>();
        outbox_item::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// A message row as `RETURNING` identifies it: its ticket and its provider's id.
type MessageKey = (i64, Option<String>);

/// Inserts messages and returns their ids in the given order. Rows go in as few statements as
/// keep (ticket, provider id) unique within each, the key the ids are read back by.
pub async fn insert_messages(
    db: &impl ConnectionTrait,
    new: Vec<NewMessage<'_>>,
) -> Result<Vec<i64>, DbErr> {
    let mut ids = vec![0i64; new.len()];
    let keys: Vec<MessageKey> = new
        .iter()
        .map(|m| (m.ticket_id, m.provider_message_id.map(str::to_string)))
        .collect();
    // Statement of each row: the first whose keys do not have the row's key yet.
    let mut statements: Vec<(HashSet<MessageKey>, Vec<usize>)> = Vec::new();
    for (index, key) in keys.iter().enumerate() {
        match statements
            .iter_mut()
            .find(|(taken, rows)| rows.len() < INSERT_CHUNK && !taken.contains(key))
        {
            Some((taken, rows)) => {
                taken.insert(key.clone());
                rows.push(index);
            }
            None => statements.push((HashSet::from([key.clone()]), vec![index])),
        }
    }
    let mut rows: Vec<Option<message::ActiveModel>> =
        new.into_iter().map(|m| Some(message_row(m))).collect();
    for (_, members) in statements {
        let models = members.iter().filter_map(|&i| rows[i].take());
        let mut insert = message::Entity::insert_many(models).into_query();
        insert.returning(Query::returning().columns([
            message::Column::Id,
            message::Column::TicketId,
            message::Column::ProviderMessageId,
        ]));
        let returned: HashMap<MessageKey, i64> = db
            .query_all(&insert)
            .await?
            .iter()
            .map(|row| {
                Ok((
                    (
                        row.try_get("", "ticket_id")?,
                        row.try_get("", "provider_message_id")?,
                    ),
                    row.try_get("", "id")?,
                ))
            })
            .collect::<Result<_, DbErr>>()?;
        for i in members {
            ids[i] = *returned.get(&keys[i]).ok_or(DbErr::RecordNotInserted)?;
        }
    }
    Ok(ids)
}

pub async fn insert_receipts(
    db: &impl ConnectionTrait,
    receipts: Vec<NewReceipt<'_>>,
) -> Result<(), DbErr> {
    let mut receipts = receipts.into_iter().peekable();
    while receipts.peek().is_some() {
        let rows = receipts
            .by_ref()
            .take(INSERT_CHUNK)
            .map(receipt_row)
            .collect::<Vec<_>>();
        inbound_receipt::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// `column IN (values)`; on PostgreSQL the values go as one array parameter (`$1` is
/// sea-query's placeholder there, renumbered in the statement), unnested once: a generic plan
/// for a long `IN` list of parameters can read every row with the first index column's value
/// (every receipt of a source), and `column = ANY(CAST($1 AS text[]))` re-reads the array for
/// every row of a sequential scan.
fn text_in<C: ColumnTrait>(db: &impl ConnectionTrait, column: C, values: &[&str]) -> SimpleExpr {
    text_in_for(db.get_database_backend(), column, values)
}

fn text_in_for<C: ColumnTrait>(backend: DbBackend, column: C, values: &[&str]) -> SimpleExpr {
    if backend == DbBackend::Postgres {
        Expr::cust_with_values(
            format!(
                "\"{}\" IN (SELECT unnest(CAST($1 AS text[])))",
                column.as_str()
            ),
            [pg_array(values.iter().map(|v| pg_quoted(v)))],
        )
    } else {
        column.is_in(values.iter().copied())
    }
}

/// As [`text_in`], for ids.
fn id_in<C: ColumnTrait>(db: &impl ConnectionTrait, column: C, ids: &[i64]) -> SimpleExpr {
    if db.get_database_backend() == DbBackend::Postgres {
        Expr::cust_with_values(
            format!(
                "\"{}\" IN (SELECT unnest(CAST($1 AS bigint[])))",
                column.as_str()
            ),
            [pg_array(ids.iter().map(i64::to_string))],
        )
    } else {
        column.is_in(ids.iter().copied())
    }
}

/// A PostgreSQL array literal of already quoted or numeric elements: `{a,b}`.
fn pg_array(elements: impl Iterator<Item = String>) -> String {
    format!("{{{}}}", elements.collect::<Vec<_>>().join(","))
}

/// One text element of a PostgreSQL array literal, double-quoted and escaped.
fn pg_quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::QueryTrait;

    #[test]
    fn array_elements_are_quoted_and_escaped() {
        assert_eq!(
            pg_array([r#"a"b"#, r"c\d", "e,{f}"].iter().map(|v| pg_quoted(v))),
            r#"{"a\"b","c\\d","e,{f}"}"#
        );
        assert_eq!(pg_array([1i64, 22].iter().map(i64::to_string)), "{1,22}");
        let q = customer::Entity::find()
            .filter(customer::Column::Email.eq("e"))
            .filter(text_in_for(
                DbBackend::Postgres,
                customer::Column::Phone,
                &["+98", "x"],
            ))
            .build(DbBackend::Postgres);
        assert!(
            q.sql
                .ends_with(r#""email" = $1 AND ("phone" IN (SELECT unnest(CAST($2 AS text[]))))"#),
            "{}",
            q.sql
        );
        assert_eq!(q.values.map(|v| v.0.len()), Some(2));
    }
}
