//! Shared by the benchmarks: a throwaway PostgreSQL database when PEYK_BENCH_DATABASE_URL is set.

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

/// A database created for one benchmark run on the server of PEYK_BENCH_DATABASE_URL.
pub struct BenchDatabase {
    admin: DatabaseConnection,
    name: String,
    pub url: String,
}

impl BenchDatabase {
    /// `None` when PEYK_BENCH_DATABASE_URL is not set.
    pub async fn create(prefix: &str) -> Option<Self> {
        let admin_url = std::env::var("PEYK_BENCH_DATABASE_URL").ok()?;
        let name = format!("{prefix}_{}", std::process::id());
        let admin = Database::connect(admin_url.as_str())
            .await
            .expect("connect admin");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create db");
        let url = match admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => admin_url.clone(),
        };
        Some(Self { admin, name, url })
    }

    pub async fn drop_database(self) {
        let _ = self
            .admin
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await;
    }
}
