//! Agents' login sessions, kept in the database so several `serve` processes share them. The
//! table holds the SHA-256 of each session token, never the token itself: a copy of the
//! database does not let anyone log in.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};

use super::DbErr;
use super::entities::{agent, session};

pub use session::Model as Session;

/// The database key of a session token: hex SHA-256 of it.
pub fn token_key(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Stores a new session for `agent_id`, keyed by `token`, valid until `expires_at`.
pub async fn create(
    db: &impl ConnectionTrait,
    token: &str,
    agent_id: i64,
    csrf_token: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Session, DbErr> {
    session::ActiveModel {
        id: Set(token_key(token)),
        agent_id: Set(agent_id),
        csrf_token: Set(csrf_token.to_string()),
        expires_at: Set(expires_at),
        created_at: Set(now),
    }
    .insert(db)
    .await
}

/// The session behind `token` and its agent, when the session has not expired and the agent
/// is still active.
pub async fn find_live(
    db: &impl ConnectionTrait,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<(Session, agent::Model)>, DbErr> {
    let Some(found) = session::Entity::find_by_id(token_key(token))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if found.expires_at <= now {
        return Ok(None);
    }
    let agent = agent::Entity::find_by_id(found.agent_id).one(db).await?;
    Ok(agent.filter(|a| a.active).map(|a| (found, a)))
}

/// Ends the session behind `token`.
pub async fn delete(db: &impl ConnectionTrait, token: &str) -> Result<(), DbErr> {
    session::Entity::delete_by_id(token_key(token))
        .exec(db)
        .await?;
    Ok(())
}

/// Removes every expired session; returns how many.
pub async fn purge_expired(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    Ok(session::Entity::delete_many()
        .filter(session::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?
        .rows_affected)
}

/// Ends every session of `agent_id` (deactivation, password change).
pub async fn delete_of_agent(db: &impl ConnectionTrait, agent_id: i64) -> Result<(), DbErr> {
    session::Entity::delete_many()
        .filter(session::Column::AgentId.eq(agent_id))
        .exec(db)
        .await?;
    Ok(())
}
