//! Test databases (a temp SQLite file, or a fresh PostgreSQL database), settings, and the
//! `peyk` binary.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use peyk::clock::{SettableClock, SharedClock, SystemClock};
use peyk::config::Settings;
use peyk::intake::{Intake, IntakeRules};
use peyk::store::Store;
use sea_orm::{ConnectionTrait, Database};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQLite always; PostgreSQL too when PEYK_TEST_DATABASE_URL names a server.
pub fn backends() -> Vec<Backend> {
    let mut all = vec![Backend::Sqlite];
    if std::env::var("PEYK_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        all.push(Backend::Postgres);
    }
    all
}

/// A database for one test, removed by [`TestDb::cleanup`].
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub async fn create(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("peyk.db").display());
                TestDb { url, dir, pg: None }
            }
            Backend::Postgres => {
                let admin_url =
                    std::env::var("PEYK_TEST_DATABASE_URL").expect("PEYK_TEST_DATABASE_URL");
                let name = format!("peyk_test_{:016x}", rand::random::<u64>());
                let admin = Database::connect(admin_url.as_str())
                    .await
                    .expect("connect to PEYK_TEST_DATABASE_URL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let url = replace_database(&admin_url, &name);
                TestDb {
                    url,
                    dir,
                    pg: Some((admin_url, name)),
                }
            }
        }
    }

    pub async fn cleanup(self) {
        if let Some((admin_url, name)) = &self.pg
            && let Ok(admin) = Database::connect(admin_url.as_str()).await
        {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
            let _ = admin.close().await;
        }
    }

    /// Settings for this database, with everything else at the built-in defaults and the data
    /// directory inside the test's temp dir.
    pub fn settings(&self) -> Settings {
        let mut settings = Settings::default();
        settings.database.url = self.url.clone();
        settings.database.max_connections = 4;
        settings.app.data_dir = self.dir.path().join("data");
        settings.http.listen = "127.0.0.1:0".parse().expect("addr");
        settings
    }

    /// A config file for the binary, pointing at this database.
    pub fn write_config(&self, extra: &str) -> PathBuf {
        let path = self.dir.path().join("peyk.toml");
        let text = format!(
            "[app]\ndata_dir = \"{}\"\n\n[database]\nurl = \"{}\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n\n[notify]\nfrom = \"Support <no-reply@peyk.example>\"\nown_addresses = [\"support@peyk.example\", \"no-reply@peyk.example\"]\n{extra}",
            self.dir.path().join("data").display(),
            self.url
        );
        std::fs::write(&path, text).expect("write config");
        path
    }

    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.settings().database)
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        store
    }

    pub async fn intake(&self, clock: SharedClock) -> (Store, Intake) {
        let store = self.store().await;
        let settings = self.settings();
        let intake = Intake::new(store.clone(), IntakeRules::from_settings(&settings), clock);
        (store, intake)
    }
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..path_start], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

pub fn system_clock() -> SharedClock {
    Arc::new(SystemClock)
}

pub fn settable_clock(at: &str) -> (SettableClock, SharedClock) {
    let at: DateTime<Utc> = DateTime::parse_from_rfc3339(at)
        .expect("rfc3339")
        .with_timezone(&Utc);
    let clock = SettableClock::new(at);
    (clock.clone(), Arc::new(clock))
}

pub fn peyk_binary() -> &'static str {
    env!("CARGO_BIN_EXE_peyk")
}

/// Runs `peyk <args>` and returns its output.
pub fn run_peyk(args: &[&str], cwd: &Path) -> Output {
    std::process::Command::new(peyk_binary())
        .args(args)
        .current_dir(cwd)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run peyk")
}

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The shared corpus of real-world mail, when this checkout has it beside it.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/email");
    dir.is_dir().then_some(dir)
}

/// One line of `peyk import` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub file: String,
    pub outcome: String,
    pub ticket: String,
    pub reason: String,
}

pub fn parse_import_output(stdout: &[u8]) -> Vec<ImportRow> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 4, "import line has 4 fields: {line:?}");
            ImportRow {
                file: fields[0].to_string(),
                outcome: fields[1].to_string(),
                ticket: fields[2].to_string(),
                reason: fields[3].to_string(),
            }
        })
        .collect()
}
