//! Peyk's one migration history, valid on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261130_000001_initial;
mod m20261201_000001_queue_indexes;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261130_000001_initial::Migration),
            Box::new(m20261201_000001_queue_indexes::Migration),
        ]
    }
}
