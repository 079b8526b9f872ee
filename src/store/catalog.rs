//! What admins keep: departments and prepared (canned) answers.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, NotSet, QueryFilter, QueryOrder,
    Set,
};

use super::entities::{canned_response, department};
use super::{DbErr, StoreError, is_unique_violation};

pub use canned_response::Model as CannedResponse;
pub use department::Model as Department;

/// Every department, by name.
pub async fn departments(db: &impl ConnectionTrait) -> Result<Vec<Department>, DbErr> {
    department::Entity::find()
        .order_by_asc(department::Column::Name)
        .order_by_asc(department::Column::Id)
        .all(db)
        .await
}

pub async fn department_by_key(
    db: &impl ConnectionTrait,
    key: &str,
) -> Result<Option<Department>, DbErr> {
    department::Entity::find()
        .filter(department::Column::Key.eq(key))
        .one(db)
        .await
}

/// Creates department `key`, or renames it when it exists (intake creates departments named
/// after their key; an admin gives them a proper name).
pub async fn save_department(
    db: &impl ConnectionTrait,
    key: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Department, StoreError> {
    if let Some(existing) = department_by_key(db, key).await? {
        let mut active: department::ActiveModel = existing.into();
        active.name = Set(name.to_string());
        return Ok(active.update(db).await?);
    }
    department::ActiveModel {
        id: NotSet,
        key: Set(key.to_string()),
        name: Set(name.to_string()),
        created_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict(format!("department {key} exists"))
        } else {
            e.into()
        }
    })
}

/// Prepared answers, by title.
pub async fn canned_responses(db: &impl ConnectionTrait) -> Result<Vec<CannedResponse>, DbErr> {
    canned_response::Entity::find()
        .order_by_asc(canned_response::Column::Title)
        .order_by_asc(canned_response::Column::Id)
        .all(db)
        .await
}

pub async fn add_canned_response(
    db: &impl ConnectionTrait,
    title: &str,
    body: &str,
    language: Option<&str>,
    now: DateTime<Utc>,
) -> Result<CannedResponse, DbErr> {
    canned_response::ActiveModel {
        id: NotSet,
        title: Set(title.to_string()),
        body: Set(body.to_string()),
        language: Set(language.map(str::to_string)),
        created_at: Set(now),
    }
    .insert(db)
    .await
}

pub async fn delete_canned_response(db: &impl ConnectionTrait, id: i64) -> Result<bool, DbErr> {
    Ok(canned_response::Entity::delete_by_id(id)
        .exec(db)
        .await?
        .rows_affected
        > 0)
}
