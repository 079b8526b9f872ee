//! The `attachments` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "attachments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub message_id: i64,
    #[sea_orm(column_type = "Text")]
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    #[sea_orm(column_type = "VarBinary(StringLen::None)")]
    pub content: Option<Vec<u8>>,
    pub refused: bool,
    #[sea_orm(column_type = "Text")]
    pub refused_reason: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
