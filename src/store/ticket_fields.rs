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
    let old = current.priority.clone();
    let mut active: ticket::ActiveModel = current.into();
    active.priority = Set(priority.as_str().to_string());
    active.updated_at = Set(now);
    active.update(db).await?;
    record_event(
        db,
        ticket_id,
        TicketEventKind::Priority,
        Some(&old),
        Some(priority.as_str()),
        Some(actor_agent_id),
        "agent",
        now,
    )
    .await?;
    Ok(true)
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
    let key_of = |id: Option<i64>| async move {
        match id {
            Some(id) => Ok::<_, DbErr>(
                department::Entity::find_by_id(id)
                    .one(db)
                    .await?
                    .map(|d| d.key),
            ),
            None => Ok(None),
        }
    };
    let old = key_of(current.department_id).await?;
    let new = key_of(department_id).await?;
    let mut active: ticket::ActiveModel = current.into();
    active.department_id = Set(department_id);
    active.updated_at = Set(now);
    active.update(db).await?;
    record_event(
        db,
        ticket_id,
        TicketEventKind::Department,
        old.as_deref(),
        new.as_deref(),
        Some(actor_agent_id),
        "agent",
        now,
    )
    .await?;
    Ok(true)
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
    let email_of = |id: Option<i64>| async move {
        match id {
            Some(id) => Ok::<_, DbErr>(
                agent::Entity::find_by_id(id)
                    .one(db)
                    .await?
                    .map(|a| a.email),
            ),
            None => Ok(None),
        }
    };
    let old = email_of(current.assignee_id).await?;
    let new = email_of(assignee_id).await?;
    let mut active: ticket::ActiveModel = current.into();
    active.assignee_id = Set(assignee_id);
    active.updated_at = Set(now);
    active.update(db).await?;
    record_event(
        db,
        ticket_id,
        TicketEventKind::Assignment,
        old.as_deref(),
        new.as_deref(),
        Some(actor_agent_id),
        "agent",
        now,
    )
    .await?;
    Ok(true)
}
