//! Agent queue and ticket latency at desk scale: 1,000,000 tickets and ~5,000,000 messages
//! (~200,000 customers, four departments; 10 % open, 5 % in progress, 30 % answered, 55 %
//! closed, the waiting ones mostly among the newest fifth; bodies of a few hundred bytes in
//! Persian and English), seeded with bulk SQL that bypasses intake, on SQLite (WAL) and, with
//! PEYK_BENCH_DATABASE_URL, on PostgreSQL. First the store's read functions are timed directly
//! (`list_tickets`, `ticket_detail`); then the real app serves on a free port and sequential
//! requests (after a warm-up) measure p50, p95 and p99 of: the first queue page (`GET /queue`,
//! default filter), a search by ticket number (`GET /queue?q=NUMBER`, also with Persian
//! digits), a ticket page (`GET /tickets/{number}`), and the same through the JSON API with
//! HTTP Basic (`GET /api/tickets?page=1`, `GET /api/tickets?q=NUMBER`,
//! `GET /api/tickets/{number}`). Figures only, no assertions; the target is p95 under 50 ms for
//! the first queue page and the search by number.
//!
//! The seeded database is kept between runs: SQLite under `target/bench-data/`, PostgreSQL as
//! the database `peyk_bench_web` (a suffix for other sizes) next to PEYK_BENCH_DATABASE_URL's.
//! A `bench_seed` table written last marks a complete seed; PEYK_BENCH_RESEED=1 seeds again.
//! Ticket numbers are six digits and the Damm check digit, every prefix once in a shuffled order
//! (with 1,000,000 tickets the whole six-digit space is used, leading zeros included).
//!
//! Run: `cargo bench --bench web_queue` (optional: PEYK_BENCH_TICKETS=N, default 1,000,000;
//! PEYK_BENCH_REQUESTS=N per endpoint, default 200; PEYK_BENCH_RESEED=1).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use peyk::app::App;
use peyk::clock::{SharedClock, SystemClock};
use peyk::config::Settings;
use peyk::domain::digits::to_persian_digits;
use peyk::domain::ticket_number::damm_check_digit;
use peyk::service::agents::{AgentRole, add_agent};
use peyk::store::Store;
use peyk::store::queue::{self, StatusFilter, TicketFilter};
use peyk_migrations::MigratorTrait;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
    TransactionTrait, TryGetable, Value,
};

/// Bumped whenever the seeded data changes shape, so an old cached database is seeded again.
const SEED_VERSION: i64 = 2;
const AGENT_EMAIL: &str = "bench.agent@peyk.example";
const AGENT_PASSWORD: &str = "bench-agent-password";
const ASSIGNEES: i64 = 10;
/// Tickets seeded per transaction.
const CHUNK: u64 = 100_000;
/// 2023-12-01T00:00:00Z: the oldest ticket; one ticket every 94 s reaches late 2026 at 1,000,000.
const BASE_EPOCH: i64 = 1_701_388_800;
const TICKET_STEP_SECS: i64 = 94;
const MESSAGE_STEP_SECS: i64 = 5_400;
const WARM_UP: usize = 20;
const SAMPLE_TICKETS: usize = 200;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn reseed_requested() -> bool {
    std::env::var("PEYK_BENCH_RESEED").is_ok_and(|v| v == "1")
}

#[derive(Clone, Copy)]
struct Scale {
    tickets: u64,
    customers: u64,
}

impl Scale {
    fn from_env() -> Self {
        let tickets = env_number("PEYK_BENCH_TICKETS", 1_000_000).clamp(10, 1_000_000);
        Self {
            tickets,
            customers: (tickets / 5).max(1),
        }
    }

    /// Names the cached database after its size, so a small development run keeps the big one.
    fn suffix(&self) -> String {
        if self.tickets == 1_000_000 {
            String::new()
        } else {
            format!("_{}", self.tickets)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Seeding
// ---------------------------------------------------------------------------------------------

/// English bodies (0..8) and Persian bodies (8..16), a few hundred bytes each.
fn bodies() -> Vec<String> {
    let english = [
        "Hello, our internet connection has been dropping every few minutes since yesterday evening. The modem lights look normal but pages time out and video calls freeze. We already restarted the router twice and checked the cables. Could you please check the line from your side and tell us what else we can try? Thanks in advance.",
        "Hi, I was charged twice for the November invoice (the amount appears two times on my card statement, both on the same day). Please refund the duplicate payment and confirm by email. My account is registered under this address and the invoice number is in the attached PDF.",
        "Dear support team, we would like to upgrade our office plan from 50 to 200 Mbit/s and add two static IP addresses. Please send us a quote including installation costs and the earliest date a technician could visit. The office is open from 8 to 17 on working days.",
        "Thank you for the quick answer. Unfortunately the problem came back this morning: the connection is up for about ten minutes and then drops again for a minute or two. I attached a screenshot of the modem's status page and the log it shows after each disconnect.",
        "Hello, I moved to a new apartment last week and would like to transfer my subscription to the new address. What documents do you need from me, and will there be an interruption of the service during the transfer? I would prefer a weekend appointment if possible.",
        "Hi there, the mobile app keeps asking me to log in again every time I open it, and after logging in it shows an empty dashboard. I reinstalled the app and cleared its data, but nothing changed. My phone runs the latest Android version.",
        "Good morning, could you please explain the extra item called 'service fee' on my last bill? I did not order any additional service and my contract does not mention such a fee. If it was added by mistake, please remove it and correct the invoice.",
        "Hello, the technician who was supposed to come today between 10 and 12 did not show up and nobody called us. We took the day off to be at home. Please let us know when he will come and make sure someone calls before the visit this time.",
    ];
    let persian = [
        "سلام، از دیروز عصر اینترنت ما هر چند دقیقه یک بار قطع می‌شود. چراغ‌های مودم عادی است ولی صفحه‌ها باز نمی‌شوند و تماس تصویری قطع می‌شود. دو بار مودم را خاموش و روشن کردیم و کابل‌ها را هم بررسی کردیم. لطفاً خط را از سمت خودتان بررسی کنید. با تشکر",
        "با سلام، مبلغ صورتحساب آبان دو بار از کارت من کسر شده است و هر دو تراکنش در یک روز ثبت شده‌اند. لطفاً مبلغ اضافه را برگردانید و نتیجه را اطلاع دهید. شماره صورتحساب در فایل پیوست آمده است.",
        "سلام وقت بخیر، می‌خواهیم سرعت اینترنت دفتر را از ۵۰ به ۲۰۰ مگابیت افزایش دهیم و دو آدرس آی‌پی ثابت هم اضافه کنیم. لطفاً پیش‌فاکتور همراه با هزینه نصب و نزدیک‌ترین زمان مراجعه کارشناس را ارسال کنید.",
        "ممنون از پاسخ سریع شما. متأسفانه مشکل امروز صبح دوباره تکرار شد: اتصال حدود ده دقیقه برقرار است و بعد یکی دو دقیقه قطع می‌شود. تصویر صفحه وضعیت مودم را پیوست کرده‌ام.",
        "سلام، هفته گذشته به منزل جدید نقل مکان کرده‌ام و می‌خواهم اشتراکم را به آدرس جدید منتقل کنم. چه مدارکی لازم است و آیا در زمان انتقال سرویس قطع خواهد شد؟ اگر ممکن است نوبت آخر هفته باشد.",
        "سلام، برنامه موبایل هر بار که بازش می‌کنم دوباره رمز می‌خواهد و بعد از ورود هم صفحه خالی نشان می‌دهد. برنامه را حذف و دوباره نصب کردم ولی فرقی نکرد. گوشی من آخرین نسخه اندروید را دارد.",
        "صبح بخیر، لطفاً توضیح دهید قلم «هزینه خدمات» در صورتحساب اخیر من بابت چیست؟ من خدمت اضافه‌ای سفارش نداده‌ام و در قرارداد هم چنین هزینه‌ای نیامده است. اگر اشتباه است لطفاً اصلاح کنید.",
        "سلام، کارشناسی که قرار بود امروز بین ساعت ۱۰ تا ۱۲ بیاید نیامد و کسی هم تماس نگرفت. ما برای این کار مرخصی گرفته بودیم. لطفاً زمان جدید را اعلام کنید و این بار قبل از مراجعه تماس بگیرید.",
    ];
    english
        .iter()
        .chain(persian.iter())
        .map(|s| s.to_string())
        .collect()
}

fn subjects() -> Vec<String> {
    [
        "Internet keeps dropping",
        "Charged twice for my invoice",
        "Upgrade request for our office plan",
        "Problem is back",
        "Moving to a new address",
        "App asks me to log in again",
        "Unknown fee on my bill",
        "Technician did not come",
        "قطعی مکرر اینترنت",
        "کسر دوباره مبلغ صورتحساب",
        "درخواست افزایش سرعت",
        "مشکل دوباره تکرار شد",
        "انتقال اشتراک به آدرس جدید",
        "مشکل ورود به برنامه موبایل",
        "هزینه ناشناخته در صورتحساب",
        "کارشناس مراجعه نکرد",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The ticket number of the `i`-th ticket: a shuffled six-digit prefix (a bijection on
/// 0..1,000,000) and its Damm check digit.
fn ticket_number(i: u64) -> String {
    let prefix = (i * 740_737 + 123_457) % 1_000_000;
    let digits: Vec<u8> = format!("{prefix:06}").bytes().map(|b| b - b'0').collect();
    format!("{prefix:06}{}", damm_check_digit(&digits))
}

/// `(column * prime) mod 2^32`, its upper bits taken into `buckets`: cheap, deterministic and
/// spread out in both SQL dialects.
fn mix(column: &str, prime: u64, buckets: u64) -> String {
    format!("((({column} * {prime}) % 4294967296) / 4194304 % {buckets})")
}

fn ts(backend: DbBackend, epoch: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("to_timestamp({epoch})"),
        _ => format!("strftime('%Y-%m-%dT%H:%M:%S+00:00', {epoch}, 'unixepoch')"),
    }
}

fn pad7(backend: DbBackend, expr: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("lpad(({expr})::text, 7, '0')"),
        _ => format!("printf('%07d', {expr})"),
    }
}

fn pad9(backend: DbBackend, expr: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("lpad(({expr})::text, 9, '0')"),
        _ => format!("printf('%09d', {expr})"),
    }
}

/// One row per ticket `i` in `[from, to)` with its derived attributes: number, customer `c`,
/// status roll `sr` (0..1000), priority roll `pr`, message count `n` (1..=9, ~5 on average), first
/// message time `t0` (epoch seconds), language `fa` (1 for Persian) and channel.
fn ticket_rows(scale: Scale, from: u64, to: u64) -> String {
    let customers = scale.customers;
    // The newest fifth holds most of the waiting tickets (as on a real desk, where old tickets
    // are closed): 40 % open, 15 % in progress there; 2.5 % and 2.5 % among older ones.
    let recent = scale.tickets - scale.tickets / 5;
    let inner = format!(
        "SELECT i, number, \
           1 + ((i * 2654435761) % 4294967296) % {customers} AS c, \
           {sr} AS sr, {pr} AS pr, 1 + {n} AS n, \
           {BASE_EPOCH} + i * {TICKET_STEP_SECS} + {jitter} AS t0 \
         FROM bench_numbers WHERE i >= {from} AND i < {to}",
        sr = mix("i", 2_246_822_519, 1000),
        pr = mix("i", 3_266_489_917, 100),
        n = mix("i", 668_265_263, 9),
        jitter = mix("i", 374_761_393, 60),
    );
    format!(
        "SELECT r.*, c % 2 AS fa, \
           CASE WHEN c % 5 = 0 OR (c % 5 = 1 AND i % 2 = 0) THEN 'sms' \
                WHEN i % 20 = 7 THEN 'web' ELSE 'email' END AS channel, \
           CASE WHEN i >= {recent} THEN \
                  CASE WHEN sr < 400 THEN 'open' WHEN sr < 550 THEN 'in_progress' \
                       WHEN sr < 900 THEN 'answered' ELSE 'closed' END \
                ELSE \
                  CASE WHEN sr < 25 THEN 'open' WHEN sr < 50 THEN 'in_progress' \
                       WHEN sr < 338 THEN 'answered' ELSE 'closed' END \
           END AS status, \
           t0 + (n - 1) * {MESSAGE_STEP_SECS} AS t1 \
         FROM ({inner}) r"
    )
}

async fn exec(db: &impl ConnectionTrait, sql: &str) {
    if let Err(e) = db.execute_unprepared(sql).await {
        panic!("{e}\nin: {}", &sql[..sql.len().min(600)]);
    }
}

async fn scalar_i64(db: &impl ConnectionTrait, sql: &str) -> Option<i64> {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .ok()??;
    i64::try_get_by(&row, 0usize).ok()
}

/// Seeds departments, agents, customers, tickets and messages on `db` (one connection, schema
/// migrated, empty). Returns the number of messages.
async fn seed(db: &DatabaseConnection, scale: Scale, label: &str) -> u64 {
    let backend = db.get_database_backend();
    let started = Instant::now();
    // Temporary helper tables (one connection seeds, so they stay visible throughout).
    let temp = "TEMP ";
    exec(
        db,
        &format!("CREATE {temp}TABLE bench_numbers (i BIGINT PRIMARY KEY, number TEXT NOT NULL)"),
    )
    .await;
    exec(
        db,
        &format!("CREATE {temp}TABLE bench_bodies (k BIGINT PRIMARY KEY, body TEXT NOT NULL)"),
    )
    .await;
    exec(
        db,
        &format!("CREATE {temp}TABLE bench_subjects (k BIGINT PRIMARY KEY, subject TEXT NOT NULL)"),
    )
    .await;
    exec(
        db,
        &format!("CREATE {temp}TABLE bench_k (k BIGINT PRIMARY KEY)"),
    )
    .await;
    exec(
        db,
        "INSERT INTO bench_k (k) VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8)",
    )
    .await;
    let placeholders = match backend {
        DbBackend::Postgres => "($1, $2)",
        _ => "(?, ?)",
    };
    for (table, column, texts) in [
        ("bench_bodies", "body", bodies()),
        ("bench_subjects", "subject", subjects()),
    ] {
        for (k, text) in texts.into_iter().enumerate() {
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                format!("INSERT INTO {table} (k, {column}) VALUES {placeholders}"),
                [Value::from(k as i64), Value::from(text)],
            ))
            .await
            .expect("insert text");
        }
    }
    // Numbers: computed here (Damm), inserted as literal digit strings.
    let txn = db.begin().await.expect("begin");
    for start in (0..scale.tickets).step_by(10_000) {
        let end = (start + 10_000).min(scale.tickets);
        let values: Vec<String> = (start..end)
            .map(|i| format!("({i},'{}')", ticket_number(i)))
            .collect();
        exec(
            &txn,
            &format!(
                "INSERT INTO bench_numbers (i, number) VALUES {}",
                values.join(",")
            ),
        )
        .await;
    }
    txn.commit().await.expect("commit");

    let now = ts(backend, &BASE_EPOCH.to_string());
    let txn = db.begin().await.expect("begin");
    exec(
        &txn,
        &format!(
            "INSERT INTO departments (id, key, name, created_at) VALUES \
             (1, 'support', 'Support', {now}), (2, 'billing', 'Billing', {now}), \
             (3, 'sales', 'Sales', {now}), (4, 'technical', 'Technical', {now})"
        ),
    )
    .await;
    let agents: Vec<String> = (1..=ASSIGNEES)
        .map(|a| {
            format!(
                "({a}, 'agent{a}@peyk.example', 'Agent {a}', '!', 'agent', {lang}, TRUE, {now})",
                lang = if a % 2 == 0 { "'en'" } else { "'fa'" }
            )
        })
        .collect();
    exec(
        &txn,
        &format!(
            "INSERT INTO agents (id, email, name, password_hash, role, language, active, created_at) VALUES {}",
            agents.join(",")
        ),
    )
    .await;
    exec(
        &txn,
        &format!(
            "INSERT INTO customers (id, name, email, phone, language, created_at, updated_at) \
             SELECT i + 1, \
               CASE WHEN (i + 1) % 2 = 1 THEN 'مشتری ' || (i + 1) ELSE 'Customer ' || (i + 1) END, \
               CASE WHEN (i + 1) % 5 = 0 THEN NULL \
                    ELSE 'customer' || (i + 1) || CASE WHEN (i + 1) % 2 = 1 THEN '@example.ir' ELSE '@example.com' END END, \
               CASE WHEN (i + 1) % 5 IN (0, 1) THEN '+98912' || {phone} ELSE NULL END, \
               CASE WHEN (i + 1) % 2 = 1 THEN 'fa' ELSE 'en' END, {now}, {now} \
             FROM bench_numbers WHERE i < {customers}",
            phone = pad7(backend, "i + 1"),
            customers = scale.customers,
        ),
    )
    .await;
    txn.commit().await.expect("commit");

    let mut from = 0;
    while from < scale.tickets {
        let to = (from + CHUNK).min(scale.tickets);
        let rows = ticket_rows(scale, from, to);
        let txn = db.begin().await.expect("begin");
        exec(
            &txn,
            &format!(
                "INSERT INTO tickets (id, number, subject, status, priority, channel, customer_id, \
                   department_id, assignee_id, waiting_since, closed_at, created_at, updated_at) \
                 SELECT t.i + 1, t.number, s.subject, t.status, \
                   CASE WHEN t.pr < 20 THEN 'low' WHEN t.pr < 80 THEN 'normal' \
                        WHEN t.pr < 95 THEN 'high' ELSE 'urgent' END, \
                   t.channel, t.c, 1 + {dept}, \
                   CASE WHEN t.status = 'open' THEN NULL ELSE 1 + t.i % {ASSIGNEES} END, \
                   CASE WHEN t.status IN ('open', 'in_progress') THEN {t1} ELSE NULL END, \
                   CASE WHEN t.status = 'closed' THEN {t1} ELSE NULL END, \
                   {t0}, {t1} \
                 FROM ({rows}) t JOIN bench_subjects s ON s.k = t.fa * 8 + t.i % 8 \
                 ORDER BY t.i",
                dept = mix("t.i", 2_654_435_761, 4),
                t0 = ts(backend, "t.t0"),
                t1 = ts(backend, "t.t1"),
            ),
        )
        .await;
        exec(
            &txn,
            &format!(
                "INSERT INTO messages (ticket_id, direction, channel, author_agent_id, author, \
                   body_text, message_id, created_at) \
                 SELECT t.i + 1, \
                   CASE WHEN k.k % 2 = 0 THEN 'inbound' WHEN k.k % 4 = 3 THEN 'note' ELSE 'outbound' END, \
                   t.channel, \
                   CASE WHEN k.k % 2 = 0 THEN NULL ELSE 1 + t.i % {ASSIGNEES} END, \
                   CASE WHEN k.k % 2 = 0 THEN 'Customer ' || t.c ELSE 'Agent ' || (1 + t.i % {ASSIGNEES}) END, \
                   b.body, \
                   CASE WHEN t.channel <> 'email' OR k.k % 4 = 3 THEN NULL \
                        WHEN k.k % 2 = 0 THEN '<c' || {id9} || '.' || k.k || '@mail.example.com>' \
                        ELSE '<peyk.' || {id9} || '.' || k.k || '@peyk.example>' END, \
                   {created} \
                 FROM ({rows}) t JOIN bench_k k ON k.k < t.n \
                   JOIN bench_bodies b ON b.k = t.fa * 8 + (t.i + k.k) % 8 \
                 ORDER BY t.i, k.k",
                id9 = pad9(backend, "t.i + 1"),
                created = ts(backend, &format!("t.t0 + k.k * {MESSAGE_STEP_SECS}")),
            ),
        )
        .await;
        txn.commit().await.expect("commit");
        println!(
            "  {label}: seeded {to} of {} tickets ({:.0} s)",
            scale.tickets,
            started.elapsed().as_secs_f64()
        );
        from = to;
    }
    for table in ["bench_numbers", "bench_bodies", "bench_subjects", "bench_k"] {
        exec(db, &format!("DROP TABLE {table}")).await;
    }
    if backend == DbBackend::Postgres {
        for table in ["departments", "agents", "customers", "tickets", "messages"] {
            exec(
                db,
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                ),
            )
            .await;
        }
    }
    scalar_i64(db, "SELECT count(*) FROM messages")
        .await
        .unwrap_or(0) as u64
}

async fn seed_marker(db: &impl ConnectionTrait, scale: Scale) -> bool {
    let found = scalar_i64(
        db,
        &format!(
            "SELECT count(*) FROM bench_seed WHERE version = {SEED_VERSION} AND tickets = {}",
            scale.tickets
        ),
    )
    .await;
    found == Some(1)
}

async fn write_seed_marker(db: &impl ConnectionTrait, scale: Scale, messages: u64, secs: f64) {
    exec(
        db,
        "CREATE TABLE bench_seed (version BIGINT, tickets BIGINT, messages BIGINT, seconds DOUBLE PRECISION)",
    )
    .await;
    exec(
        db,
        &format!(
            "INSERT INTO bench_seed VALUES ({SEED_VERSION}, {}, {messages}, {secs})",
            scale.tickets
        ),
    )
    .await;
}

fn bench_data_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("bench-data")
}

/// The SQLite file, seeded (or found seeded) and in WAL mode; returns its URL.
async fn prepare_sqlite(scale: Scale) -> String {
    let dir = bench_data_dir();
    std::fs::create_dir_all(&dir).expect("bench data dir");
    let path = dir.join(format!("web_queue{}.db", scale.suffix()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    if path.exists() && !reseed_requested() {
        let db = Database::connect(url.as_str()).await.expect("open sqlite");
        let seeded = seed_marker(&db, scale).await;
        db.close().await.expect("close");
        if seeded {
            println!("SQLite: using the seeded database {}", path.display());
            return url;
        }
    }
    for extension in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{extension}", path.display()));
    }
    println!(
        "SQLite: seeding {} tickets into {}",
        scale.tickets,
        path.display()
    );
    let started = Instant::now();
    let mut options = ConnectOptions::new(url.clone());
    options.max_connections(1).sqlx_logging(false);
    options.map_sqlx_sqlite_opts(|opts| {
        opts.journal_mode(SqliteJournalMode::Off)
            .synchronous(SqliteSynchronous::Off)
            .foreign_keys(false)
            .locking_mode(sea_orm::sqlx::sqlite::SqliteLockingMode::Exclusive)
            .pragma("cache_size", "-1000000")
            .pragma("temp_store", "memory")
            .create_if_missing(true)
    });
    let db = Database::connect(options).await.expect("open sqlite");
    peyk_migrations::Migrator::up(&db, None)
        .await
        .expect("migrate");
    let messages = seed(&db, scale, "SQLite").await;
    let secs = started.elapsed().as_secs_f64();
    write_seed_marker(&db, scale, messages, secs).await;
    exec(&db, "PRAGMA journal_mode = WAL").await;
    db.close().await.expect("close");
    println!(
        "SQLite: seeded {} tickets and {messages} messages in {secs:.0} s ({:.0} MiB)",
        scale.tickets,
        std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0
    );
    url
}

/// The PostgreSQL database next to `admin_url`'s, seeded (or found seeded); returns its URL.
async fn prepare_postgres(admin_url: &str, scale: Scale) -> String {
    let name = format!("peyk_bench_web{}", scale.suffix());
    let url = match admin_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("PEYK_BENCH_DATABASE_URL has no database name: {admin_url}"),
    };
    let admin = Database::connect(admin_url).await.expect("connect admin");
    let exists = scalar_i64(
        &admin,
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
    )
    .await
        == Some(1);
    if exists && !reseed_requested() {
        let db = Database::connect(url.as_str()).await.expect("open pg");
        let seeded = seed_marker(&db, scale).await;
        db.close().await.expect("close");
        if seeded {
            println!("PostgreSQL: using the seeded database {name}");
            return url;
        }
    }
    exec(
        &admin,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await;
    exec(&admin, &format!("CREATE DATABASE {name}")).await;
    println!("PostgreSQL: seeding {} tickets into {name}", scale.tickets);
    let started = Instant::now();
    let mut options = ConnectOptions::new(url.clone());
    options.max_connections(1).sqlx_logging(false);
    let db = Database::connect(options).await.expect("open pg");
    peyk_migrations::Migrator::up(&db, None)
        .await
        .expect("migrate");
    exec(&db, "SET synchronous_commit = off").await;
    // Skips the foreign-key triggers while seeding (superuser only; without it they just run).
    let _ = db
        .execute_unprepared("SET session_replication_role = replica")
        .await;
    let messages = seed(&db, scale, "PostgreSQL").await;
    let _ = db
        .execute_unprepared("SET session_replication_role = origin")
        .await;
    let seeded_secs = started.elapsed().as_secs_f64();
    exec(&db, "VACUUM (ANALYZE)").await;
    let secs = started.elapsed().as_secs_f64();
    write_seed_marker(&db, scale, messages, secs).await;
    db.close().await.expect("close");
    admin.close().await.expect("close");
    println!(
        "PostgreSQL: seeded {} tickets and {messages} messages in {seeded_secs:.0} s, {secs:.0} s with VACUUM ANALYZE",
        scale.tickets
    );
    url
}

// ---------------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------------

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64) * fraction).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn report(label: &str, what: &str, mut latencies: Vec<Duration>, note: &str) {
    latencies.sort();
    println!(
        "web_queue {label}: {what:<44} n={:<4} p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms{note}",
        latencies.len(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.95)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default()),
    );
}

enum Auth {
    Session(String),
    Basic,
}

/// Sequential GETs of `urls` (cycled), `WARM_UP` first unmeasured; every answer must be 200
/// (otherwise the endpoint is reported as missing and skipped).
async fn measure_http(
    client: &reqwest::Client,
    label: &str,
    what: &str,
    urls: &[reqwest::Url],
    auth: &Auth,
    requests: usize,
    needles: &[String],
) {
    let get = |url: &reqwest::Url| {
        let request = client.get(url.clone());
        match auth {
            Auth::Session(cookie) => request.header("cookie", format!("peyk_session={cookie}")),
            Auth::Basic => request.basic_auth(AGENT_EMAIL, Some(AGENT_PASSWORD)),
        }
    };
    let mut latencies = Vec::with_capacity(requests);
    let mut bytes = 0usize;
    let mut found = 0usize;
    for n in 0..WARM_UP + requests {
        let url = &urls[n % urls.len()];
        let sent = Instant::now();
        let response = match get(url).send().await {
            Ok(r) => r,
            Err(e) => {
                println!("web_queue {label}: {what:<44} failed: {e}");
                return;
            }
        };
        let status = response.status();
        let body = response.bytes().await.unwrap_or_default();
        let elapsed = sent.elapsed();
        if status != reqwest::StatusCode::OK {
            println!(
                "web_queue {label}: {what:<44} not measured: {} answered {status}: {}",
                url.path(),
                String::from_utf8_lossy(&body[..body.len().min(200)])
            );
            return;
        }
        if n >= WARM_UP {
            latencies.push(elapsed);
            bytes += body.len();
            if let Some(needle) = needles.get(n % needles.len().max(1))
                && body.windows(needle.len()).any(|w| w == needle.as_bytes())
            {
                found += 1;
            }
        }
    }
    let mut note = format!("  ({} bytes avg", bytes / requests.max(1));
    if !needles.is_empty() {
        note.push_str(&format!("; the ticket listed in {found} of {requests}"));
    }
    note.push(')');
    report(label, what, latencies, &note);
}

/// Logs in through the form (GET /login for the double-submit CSRF cookie, then POST) and
/// returns the session cookie's value.
async fn login(client: &reqwest::Client, base: &str) -> Result<String, String> {
    let page = client
        .get(format!("{base}/login"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !page.status().is_success() {
        return Err(format!("GET /login answered {}", page.status()));
    }
    let csrf_cookie = cookie_value(page.headers(), "peyk_login_csrf");
    let html = page.text().await.map_err(|e| e.to_string())?;
    let token = hidden_input(&html, "csrf_token")
        .or(csrf_cookie.clone())
        .ok_or("no csrf_token on the login page")?;
    let mut request = client.post(format!("{base}/login")).form(&[
        ("email", AGENT_EMAIL),
        ("password", AGENT_PASSWORD),
        ("csrf_token", token.as_str()),
    ]);
    if let Some(cookie) = &csrf_cookie {
        request = request.header("cookie", format!("peyk_login_csrf={cookie}"));
    }
    let answer = request.send().await.map_err(|e| e.to_string())?;
    cookie_value(answer.headers(), "peyk_session")
        .ok_or_else(|| format!("POST /login answered {} without a session", answer.status()))
}

fn cookie_value(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let pair = v.split(';').next()?.trim();
            let (key, value) = pair.split_once('=')?;
            (key == name && !value.is_empty()).then(|| value.to_string())
        })
}

fn hidden_input(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    let value_at = tag.find("value=\"")? + "value=\"".len();
    let value_end = value_at + tag[value_at..].find('"')?;
    Some(tag[value_at..value_end].to_string())
}

/// Numbers of tickets spread over the whole table, for searches and ticket pages.
async fn sample_numbers(store: &Store, scale: Scale) -> Vec<String> {
    let step = (scale.tickets / SAMPLE_TICKETS as u64).max(1);
    let rows = store
        .db()
        .query_all_raw(Statement::from_string(
            store.backend(),
            format!(
                "SELECT number FROM tickets WHERE id % {step} = 7 ORDER BY id LIMIT {SAMPLE_TICKETS}"
            ),
        ))
        .await
        .expect("sample numbers");
    rows.iter()
        .filter_map(|row| String::try_get_by(row, 0usize).ok())
        .collect()
}

/// Times `requests` sequential calls of `call` (cycling over `inputs`) after a warm-up.
async fn measure_calls<F, Fut>(label: &str, what: &str, inputs: &[String], requests: usize, call: F)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<usize, String>>,
{
    let mut latencies = Vec::with_capacity(requests);
    let mut found = 0usize;
    for n in 0..WARM_UP + requests {
        let input = inputs[n % inputs.len()].clone();
        let started = Instant::now();
        match call(input).await {
            Ok(rows) => {
                if n >= WARM_UP {
                    latencies.push(started.elapsed());
                    found += rows;
                }
            }
            Err(e) => {
                println!("web_queue {label}: {what:<44} failed: {e}");
                return;
            }
        }
    }
    report(
        label,
        what,
        latencies,
        &format!("  ({:.1} rows avg)", found as f64 / requests.max(1) as f64),
    );
}

/// The store's read functions called directly (no HTTP, no rendering).
async fn measure_store(label: &str, store: &Store, numbers: &[String], requests: usize) {
    let db = store.db();
    let once = [String::new()];
    let list_counted = |query: Option<String>, status: StatusFilter, count_cap: Option<u64>| {
        let filter = TicketFilter {
            query,
            status,
            count_cap,
            ..TicketFilter::default()
        };
        async move {
            queue::list_tickets(db, &filter)
                .await
                .map(|page| page.rows.len())
                .map_err(|e| e.to_string())
        }
    };
    let list = |query: Option<String>, status: StatusFilter| {
        list_counted(query, status, Some(queue::DEFAULT_COUNT_CAP))
    };
    measure_calls(
        label,
        "store list_tickets (waiting, page 1)",
        &once,
        requests,
        |_| list(None, StatusFilter::Waiting),
    )
    .await;
    measure_calls(
        label,
        "store list_tickets (all, page 1)",
        &once,
        requests,
        |_| list(None, StatusFilter::All),
    )
    .await;
    measure_calls(
        label,
        "store list_tickets (all, exact total)",
        &once,
        requests,
        |_| list_counted(None, StatusFilter::All, None),
    )
    .await;
    measure_calls(
        label,
        "store list_tickets (waiting, exact total)",
        &once,
        requests,
        |_| list_counted(None, StatusFilter::Waiting, None),
    )
    .await;
    measure_calls(
        label,
        "store list_tickets (waiting, q=NUMBER)",
        numbers,
        requests,
        |n| list(Some(n), StatusFilter::Waiting),
    )
    .await;
    measure_calls(
        label,
        "store list_tickets (all, q=NUMBER)",
        numbers,
        requests,
        |n| list(Some(n), StatusFilter::All),
    )
    .await;
    let persian: Vec<String> = numbers.iter().map(|n| to_persian_digits(n)).collect();
    measure_calls(
        label,
        "store list_tickets (all, q=PERSIAN)",
        &persian,
        requests,
        |n| list(Some(n), StatusFilter::All),
    )
    .await;
    measure_calls(
        label,
        "store ticket_detail",
        numbers,
        requests,
        |n| async move {
            queue::ticket_detail(db, &n)
                .await
                .map(|d| d.map(|d| d.messages.len()).unwrap_or(0))
                .map_err(|e| e.to_string())
        },
    )
    .await;
}

async fn ensure_agent(store: &Store, clock: &SharedClock) {
    if peyk::store::agents::find_by_email(store.db(), AGENT_EMAIL)
        .await
        .expect("find agent")
        .is_none()
    {
        add_agent(
            store,
            clock.as_ref(),
            AGENT_EMAIL,
            "Bench Agent",
            AGENT_PASSWORD,
            AgentRole::Agent,
        )
        .await
        .expect("add agent");
    }
}

async fn run(label: &str, database_url: &str, scale: Scale, data_dir: &Path) {
    let requests = env_number("PEYK_BENCH_REQUESTS", 200) as usize;
    let mut settings = Settings::default();
    settings.database.url = database_url.to_string();
    settings.app.data_dir = data_dir.to_path_buf();
    settings.http.listen = "127.0.0.1:0".parse().expect("address");
    let clock: SharedClock = Arc::new(SystemClock);
    let started = Instant::now();
    let app = App::build(settings, clock.clone()).await.expect("app");
    println!(
        "web_queue {label}: app built (migrations applied) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let store = app.store().clone();
    ensure_agent(&store, &clock).await;
    let numbers = sample_numbers(&store, scale).await;
    measure_store(label, &store, &numbers, requests).await;
    let base = format!("http://{}", app.local_addr().expect("bound"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let url = |path: &str, query: &[(&str, &str)]| {
        let mut url = reqwest::Url::parse(&format!("{base}{path}")).expect("url");
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    };
    let each = |path: &dyn Fn(&str) -> String, q: Option<&dyn Fn(&str) -> String>| {
        numbers
            .iter()
            .map(|n| match q {
                Some(q) => url(&path(n), &[("q", &q(n))]),
                None => url(&path(n), &[]),
            })
            .collect::<Vec<_>>()
    };
    let ascii = |n: &str| n.to_string();
    let persian = |n: &str| to_persian_digits(n);
    let html_rows: Vec<String> = numbers
        .iter()
        .map(|n| format!("data-number=\"{n}\""))
        .collect();
    let json_rows: Vec<String> = numbers
        .iter()
        .map(|n| format!("\"number\":\"{n}\""))
        .collect();
    match login(&client, &base).await {
        Ok(session) => {
            let auth = Auth::Session(session);
            let pages: [(&str, Vec<reqwest::Url>, &[String]); 4] = [
                ("GET /queue", vec![url("/queue", &[])], &[]),
                (
                    "GET /queue?q=NUMBER",
                    each(&|_| "/queue".into(), Some(&ascii)),
                    &html_rows,
                ),
                (
                    "GET /queue?q=NUMBER (Persian digits)",
                    each(&|_| "/queue".into(), Some(&persian)),
                    &html_rows,
                ),
                (
                    "GET /tickets/{number}",
                    each(&|n| format!("/tickets/{n}"), None),
                    &[],
                ),
            ];
            for (what, urls, needles) in &pages {
                measure_http(&client, label, what, urls, &auth, requests, needles).await;
            }
        }
        Err(e) => println!("web_queue {label}: HTML pages not measured: login failed: {e}"),
    }
    let api: [(&str, Vec<reqwest::Url>, &[String]); 4] = [
        (
            "GET /api/tickets?page=1",
            vec![url("/api/tickets", &[("page", "1")])],
            &[],
        ),
        (
            "GET /api/tickets?q=NUMBER",
            each(&|_| "/api/tickets".into(), Some(&ascii)),
            &json_rows,
        ),
        (
            "GET /api/tickets?q=NUMBER (Persian digits)",
            each(&|_| "/api/tickets".into(), Some(&persian)),
            &json_rows,
        ),
        (
            "GET /api/tickets/{number}",
            each(&|n| format!("/api/tickets/{n}"), None),
            &[],
        ),
    ];
    for (what, urls, needles) in &api {
        measure_http(&client, label, what, urls, &Auth::Basic, requests, needles).await;
    }

    let _ = stop.send(());
    let _ = server.await;
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let scale = Scale::from_env();
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let sqlite = prepare_sqlite(scale).await;
        run("SQLite", &sqlite, scale, dir.path()).await;
        if let Ok(admin_url) = std::env::var("PEYK_BENCH_DATABASE_URL") {
            let postgres = prepare_postgres(&admin_url, scale).await;
            run("PostgreSQL", &postgres, scale, dir.path()).await;
        }
    });
}
