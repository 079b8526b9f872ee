//! The `tickets` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tickets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub number: String,
    #[sea_orm(column_type = "Text")]
    pub subject: String,
    pub status: String,
    pub priority: String,
    pub channel: String,
    pub customer_id: i64,
    pub department_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub follows_ticket_id: Option<i64>,
    #[sea_orm(column_type = "Text")]
    pub noted_reference: Option<String>,
    pub thread_message_id: Option<String>,
    pub waiting_since: Option<DateTimeUtc>,
    pub first_response_due_at: Option<DateTimeUtc>,
    pub resolution_due_at: Option<DateTimeUtc>,
    pub closed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
