//! The `mailbox_state` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mailbox_state")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub mailbox_key: String,
    pub uid_validity: i64,
    pub last_uid: i64,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
