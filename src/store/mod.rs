//! SeaORM queries and transactions: the only module that names sea_orm.

pub mod agents;
pub mod catalog;
pub mod entities;
pub mod inbound;
pub mod outbox;
pub mod queue;
pub mod sessions;
pub mod sms_batch;
pub mod ticket_fields;
pub mod tickets;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use tokio::sync::{Mutex, MutexGuard};

use crate::config::DatabaseSettings;

pub use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error("cannot prepare the database: {0}")]
    Setup(String),
}

/// The database, and for SQLite a gate that lets one writer in at a time, so a transaction that
/// reads then writes never meets SQLITE_BUSY from another writer of this process.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    write_gate: Option<Arc<Mutex<()>>>,
}

/// A write transaction, holding the SQLite write gate while it lives.
pub struct WriteTxn<'a> {
    pub txn: DatabaseTransaction,
    _gate: Option<MutexGuard<'a, ()>>,
}

impl WriteTxn<'_> {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }
}

impl Store {
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let url = settings.url.clone();
        let is_sqlite = url.starts_with("sqlite:");
        if is_sqlite {
            prepare_sqlite_dir(&url)?;
        }
        let mut options = ConnectOptions::new(url);
        options
            .max_connections(settings.max_connections.max(1))
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .sqlx_logging(false);
        let synchronous = if settings.sqlite_synchronous_full {
            SqliteSynchronous::Full
        } else {
            SqliteSynchronous::Normal
        };
        options.map_sqlx_sqlite_opts(move |opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(synchronous)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
                .create_if_missing(true)
        });
        let db = Database::connect(options).await?;
        Ok(Self {
            db,
            write_gate: is_sqlite.then(|| Arc::new(Mutex::new(()))),
        })
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        use peyk_migrations::MigratorTrait;
        peyk_migrations::Migrator::up(&self.db, None).await?;
        Ok(())
    }

    /// Starts a write transaction (waiting for the SQLite write gate first).
    pub async fn begin_write(&self) -> Result<WriteTxn<'_>, DbErr> {
        let gate = match &self.write_gate {
            Some(gate) => Some(gate.lock().await),
            None => None,
        };
        // On SQLite, BEGIN IMMEDIATE takes the write lock at once, waiting out another process
        // (`peyk import` beside `serve`) for busy_timeout; a deferred transaction would fail
        // with SQLITE_BUSY when it upgrades from reading to writing.
        let txn = self
            .db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: gate.as_ref().map(|_| SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await?;
        Ok(WriteTxn { txn, _gate: gate })
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        self.db.execute_unprepared("SELECT 1").await.is_ok()
    }

    /// The SQLite pragmas in force (journal mode, synchronous level), for checks and the log.
    pub async fn sqlite_pragmas(&self) -> Option<(String, i64)> {
        use sea_orm::{Statement, TryGetable};
        if self.backend() != DbBackend::Sqlite {
            return None;
        }
        let journal = self
            .db
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "PRAGMA journal_mode",
            ))
            .await
            .ok()??;
        let sync = self
            .db
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "PRAGMA synchronous",
            ))
            .await
            .ok()??;
        let journal = String::try_get_by(&journal, 0usize).ok()?;
        let sync = i64::try_get_by(&sync, 0usize).ok()?;
        Some((journal, sync))
    }
}

fn prepare_sqlite_dir(url: &str) -> Result<(), StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or("");
    let path = rest.split('?').next().unwrap_or("");
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| StoreError::Setup(format!("cannot create {}: {e}", parent.display())))?;
    }
    Ok(())
}

/// True when an error is a unique-constraint violation (on either backend).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
