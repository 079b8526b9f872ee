//! Agents' changes to a ticket (status, priority, department, assignee) and the collision rule
//! for replies.

use crate::clock::Clock;
use crate::domain::ticket::{Direction, Priority, TicketStatus};
use crate::service::replies::{ReplyError, ReplyRules, close_ticket};
use crate::store::outbox::OutboxItem;
use crate::store::{self, Store};

/// What an agent changes at once; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketChanges {
    pub status: Option<TicketStatus>,
    pub priority: Option<Priority>,
    /// `Some(None)`: no department.
    pub department_key: Option<Option<String>>,
    /// `Some(None)`: nobody.
    pub assignee_id: Option<Option<i64>>,
}

/// Applies `changes` to ticket `ticket_number`, each change with its event, in one transaction.
/// Closing goes through [`close_ticket`], so the customer is told; it returns that notification.
pub async fn update_ticket(
    store: &Store,
    clock: &dyn Clock,
    rules: &ReplyRules,
    ticket_number: &str,
    agent_id: i64,
    changes: &TicketChanges,
) -> Result<Option<OutboxItem>, ReplyError> {
    let now = clock.now();
    let write = store.begin_write().await?;
    let txn = &write.txn;
    let ticket = store::tickets::find_by_number(txn, ticket_number)
        .await?
        .ok_or_else(|| ReplyError::NotFound(ticket_number.to_string()))?;
    if let Some(priority) = changes.priority {
        store::ticket_fields::set_priority(txn, ticket.id, priority, agent_id, now).await?;
    }
    if let Some(department_key) = &changes.department_key {
        let department_id = match department_key {
            Some(key) => Some(
                store::catalog::department_by_key(txn, key)
                    .await?
                    .ok_or_else(|| ReplyError::Invalid(format!("no department {key:?}")))?
                    .id,
            ),
            None => None,
        };
        store::ticket_fields::set_department(txn, ticket.id, department_id, agent_id, now).await?;
    }
    if let Some(assignee_id) = changes.assignee_id {
        if let Some(id) = assignee_id
            && !store::agents::find(txn, id)
                .await?
                .is_some_and(|a| a.active)
        {
            return Err(ReplyError::Invalid(format!("no active agent {id}")));
        }
        store::ticket_fields::set_assignee(txn, ticket.id, assignee_id, agent_id, now).await?;
    }
    match changes.status {
        Some(status) if status != TicketStatus::Closed && status.as_str() != ticket.status => {
            store::tickets::set_status(txn, ticket.id, status, Some(agent_id), "agent", now)
                .await?;
        }
        _ => {}
    }
    write.commit().await?;
    if changes.status == Some(TicketStatus::Closed) {
        let (_, notification) =
            close_ticket(store, clock, rules, ticket_number, Some(agent_id)).await?;
        return Ok(notification);
    }
    Ok(None)
}

/// One message of a thread, as the collision rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadEntry {
    pub id: i64,
    pub direction: Direction,
    pub author_agent_id: Option<i64>,
}

/// True when someone other than `agent_id` answered the customer after message `seen` (the
/// newest message when the agent's page was rendered): a reply then is held, not sent blindly.
/// Notes do not count; neither do the agent's own answers.
pub fn answered_by_someone_else_since(
    thread: &[ThreadEntry],
    seen: Option<i64>,
    agent_id: i64,
) -> bool {
    thread.iter().any(|m| {
        m.id > seen.unwrap_or(0)
            && m.direction == Direction::Outbound
            && m.author_agent_id != Some(agent_id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64, direction: Direction, author: Option<i64>) -> ThreadEntry {
        ThreadEntry {
            id,
            direction,
            author_agent_id: author,
        }
    }

    #[test]
    fn an_answer_by_another_agent_after_the_page_loaded_is_a_collision() {
        let thread = [
            entry(1, Direction::Inbound, None),
            entry(2, Direction::Outbound, Some(7)),
        ];
        assert!(answered_by_someone_else_since(&thread, Some(1), 5));
        assert!(!answered_by_someone_else_since(&thread, Some(2), 5));
    }

    #[test]
    fn own_answers_notes_and_customer_messages_are_not_collisions() {
        let thread = [
            entry(1, Direction::Inbound, None),
            entry(2, Direction::Outbound, Some(5)),
            entry(3, Direction::Note, Some(7)),
            entry(4, Direction::Inbound, None),
        ];
        assert!(!answered_by_someone_else_since(&thread, Some(1), 5));
    }
}
