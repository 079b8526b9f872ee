//! Agents: the people who answer tickets.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, NotSet, PaginatorTrait,
    QueryFilter, Set,
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
