//! Agents' changes to a ticket's priority, department and assignee, each with its event.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};

use super::DbErr;
use super::entities::{agent, department, ticket};
use super::tickets::{Ticket, record_event};
use crate::domain::ticket::{Priority, TicketEventKind};

async fn load(db: &impl ConnectionTrait, ticket_id: i64) -> Result<Ticket, DbErr> {
    ticket::Entity::find_by_id(ticket_id)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("ticket {ticket_id}")))
}

/// Saves `current` changed by `apply` (and `updated_at`), then the event `kind` from `old` to
/// `new`, both shown as the readable values (department key, agent email).
#[allow(clippy::too_many_arguments)] // one change, one argument per part of its event
async fn change(
    db: &impl ConnectionTrait,
    current: Ticket,
    apply: impl FnOnce(&mut ticket::ActiveModel),
    kind: TicketEventKind,
    old: Option<String>,
    new: Option<String>,
    actor_agent_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let ticket_id = current.id;
    let mut active: ticket::ActiveModel = current.into();
    apply(&mut active);
    active.updated_at = Set(now);
    active.update(db).await?;
    record_event(
        db,
        ticket_id,
        kind,
        old.as_deref(),
        new.as_deref(),
        Some(actor_agent_id),
        "agent",
        now,
    )
    .await?;
    Ok(true)
}

pub async fn set_priority(
    db: &impl ConnectionTrait,
    ticket_id: i64,
    priority: Priority,
    actor_agent_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let current = load(db, ticket_id).await?;
    if current.priority == priority.as_str() {
        return Ok(false);
    }
    let old = Some(current.priority.clone());
    let apply = |t: &mut ticket::ActiveModel| t.priority = Set(priority.as_str().to_string());
    let new = Some(priority.as_str().to_string());
    change(
        db,
        current,
        apply,
        TicketEventKind::Priority,
        old,
        new,
        actor_agent_id,
        now,
    )
    .await
}

async fn department_key(
    db: &impl ConnectionTrait,
    id: Option<i64>,
) -> Result<Option<String>, DbErr> {
    Ok(match id {
        Some(id) => department::Entity::find_by_id(id)
            .one(db)
            .await?
            .map(|d| d.key),
        None => None,
    })
}

async fn agent_email(db: &impl ConnectionTrait, id: Option<i64>) -> Result<Option<String>, DbErr> {
    Ok(match id {
        Some(id) => agent::Entity::find_by_id(id)
            .one(db)
            .await?
            .map(|a| a.email),
        None => None,
    })
}

/// Moves the ticket to department `department_id` (`None`: no department).
pub async fn set_department(
    db: &impl ConnectionTrait,
    ticket_id: i64,
    department_id: Option<i64>,
    actor_agent_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let current = load(db, ticket_id).await?;
    if current.department_id == department_id {
        return Ok(false);
    }
    let old = department_key(db, current.department_id).await?;
    let new = department_key(db, department_id).await?;
    let apply = |t: &mut ticket::ActiveModel| t.department_id = Set(department_id);
    change(
        db,
        current,
        apply,
        TicketEventKind::Department,
        old,
        new,
        actor_agent_id,
        now,
    )
    .await
}

/// Gives the ticket to agent `assignee_id` (`None`: nobody).
pub async fn set_assignee(
    db: &impl ConnectionTrait,
    ticket_id: i64,
    assignee_id: Option<i64>,
    actor_agent_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let current = load(db, ticket_id).await?;
    if current.assignee_id == assignee_id {
        return Ok(false);
    }
    let old = agent_email(db, current.assignee_id).await?;
    let new = agent_email(db, assignee_id).await?;
    let apply = |t: &mut ticket::ActiveModel| t.assignee_id = Set(assignee_id);
    change(
        db,
        current,
        apply,
        TicketEventKind::Assignment,
        old,
        new,
        actor_agent_id,
        now,
    )
    .await
}
