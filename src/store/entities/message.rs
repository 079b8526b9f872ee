//! The `messages` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub ticket_id: i64,
    pub direction: String,
    pub channel: String,
    pub author_agent_id: Option<i64>,
    pub author: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub body_text: String,
    /// The quoted earlier mail removed from `body_text` of a reply (kept for agents).
    #[sea_orm(column_type = "Text")]
    pub quoted_text: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub body_html: Option<String>,
    pub message_id: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub in_reply_to: Option<String>,
    #[sea_orm(column_type = "Text")]
    #[sea_orm(column_name = "references")]
    pub references_header: Option<String>,
    pub provider_message_id: Option<String>,
    #[sea_orm(column_type = "VarBinary(StringLen::None)")]
    pub raw_source: Option<Vec<u8>>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
