//! Agents: the people who answer tickets.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, NotSet, PaginatorTrait,
    QueryFilter, QueryOrder, Set,
};

use super::entities::agent;
use super::{DbErr, StoreError, is_unique_violation};

pub use agent::Model as Agent;

pub async fn count(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    agent::Entity::find().count(db).await
}

pub async fn find_by_email(db: &impl ConnectionTrait, email: &str) -> Result<Option<Agent>, DbErr> {
    agent::Entity::find()
        .filter(agent::Column::Email.eq(email.to_lowercase()))
        .one(db)
        .await
}

pub async fn create(
    db: &impl ConnectionTrait,
    email: &str,
    name: &str,
    password_hash: &str,
    role: &str,
    now: DateTime<Utc>,
) -> Result<Agent, StoreError> {
    agent::ActiveModel {
        id: NotSet,
        email: Set(email.to_lowercase()),
        name: Set(name.to_string()),
        password_hash: Set(password_hash.to_string()),
        role: Set(role.to_string()),
        language: Set(None),
        active: Set(true),
        created_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict(format!("an agent with email {email} exists"))
        } else {
            e.into()
        }
    })
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<Option<Agent>, DbErr> {
    agent::Entity::find_by_id(id).one(db).await
}

/// Every agent, by name.
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<Agent>, DbErr> {
    agent::Entity::find()
        .order_by_asc(agent::Column::Name)
        .order_by_asc(agent::Column::Id)
        .all(db)
        .await
}

/// Sets the agent's interface language (`None`: the configured default).
pub async fn set_language(
    db: &impl ConnectionTrait,
    id: i64,
    language: Option<&str>,
) -> Result<(), DbErr> {
    agent::Entity::update_many()
        .col_expr(
            agent::Column::Language,
            sea_orm::sea_query::Expr::value(language.map(str::to_string)),
        )
        .filter(agent::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Turns an agent on or off; an inactive agent cannot log in and loses its sessions.
pub async fn set_active(db: &impl ConnectionTrait, id: i64, active: bool) -> Result<(), DbErr> {
    agent::Entity::update_many()
        .col_expr(
            agent::Column::Active,
            sea_orm::sea_query::Expr::value(active),
        )
        .filter(agent::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
