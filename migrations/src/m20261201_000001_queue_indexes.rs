//! Queue indexes for a million tickets (measured by `cargo bench --bench web_queue`).
//!
//! `ix_tickets_queue` becomes `(status, waiting_since, id)`: the queue's order is
//! `waiting_since, id`, and with `id` in the index PostgreSQL reads a page and counts the
//! matching tickets (capped) by index-only scans instead of an incremental sort and a
//! sequential scan. (SQLite's index already ended in the rowid, which is `id`; it gets the same
//! definition so both backends share one schema.)

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000001_queue_indexes"
    }
}

fn index(table: &'static str, name: &str, columns: &[&'static str]) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for c in columns {
        stmt.col(*c);
    }
    stmt.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(index(
            "tickets",
            "ix_tickets_queue_order",
            &["status", "waiting_since", "id"],
        ))
        .await?;
        m.drop_index(
            Index::drop()
                .name("ix_tickets_queue")
                .table("tickets")
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(index(
            "tickets",
            "ix_tickets_queue",
            &["status", "waiting_since"],
        ))
        .await?;
        m.drop_index(
            Index::drop()
                .name("ix_tickets_queue_order")
                .table("tickets")
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
