//! The `inbound_receipts` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inbound_receipts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub source: String,
    pub external_id: String,
    pub channel: String,
    pub outcome: String,
    #[sea_orm(column_type = "Text")]
    pub reason: Option<String>,
    pub ticket_id: Option<i64>,
    pub message_id: Option<i64>,
    #[sea_orm(column_type = "Text")]
    pub sender: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub subject: Option<String>,
    pub content_hash: String,
    pub fingerprint: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub bounced_recipient: Option<String>,
    pub bounce_status: Option<String>,
    #[sea_orm(column_type = "VarBinary(StringLen::None)")]
    pub raw_source: Option<Vec<u8>>,
    pub attempts: i32,
    pub received_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
