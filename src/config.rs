//! Settings from TOML plus `PEYK__SECTION__KEY` environment overrides. Unknown keys and bad
//! values are errors that name the key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::domain::contact::EmailAddress;
use crate::domain::ticket::Language;

pub const DEFAULT_CONFIG_PATH: &str = "config/peyk.toml";
const ENV_PREFIX: &str = "PEYK__";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: String, message: String },
    #[error("config key `{key}`: {message}")]
    Key { key: String, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub app: AppSettings,
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub mailboxes: Vec<MailboxSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp: Option<SmtpSettings>,
    pub notify: NotifySettings,
    pub sms: SmsSettings,
    pub intake: IntakeSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppSettings {
    pub data_dir: PathBuf,
    pub timezone: String,
    pub default_language: Language,
    pub attachment_max_bytes: u64,
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            timezone: "Asia/Tehran".into(),
            default_language: Language::Fa,
            attachment_max_bytes: 10 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    pub url: String,
    /// SQLite only: `synchronous=FULL` (an fsync per commit). Turning it off risks losing the
    /// last commits on power loss, after the mailbox was already changed.
    pub sqlite_synchronous_full: bool,
    pub max_connections: u32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://data/peyk.db?mode=rwc".into(),
            sqlite_synchronous_full: true,
            max_connections: 8,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    pub public_url: String,
    /// Login attempts (web form or a password checked for HTTP Basic) allowed per minute from
    /// one client address, and separately for one agent email.
    pub login_attempts_per_minute: u32,
    /// How long an agent's web session lasts after login.
    pub session_hours: u32,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: "http://127.0.0.1:8080".into(),
            login_attempts_per_minute: 10,
            session_hours: 12,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailSecurity {
    Tls,
    Starttls,
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxSettings {
    pub key: String,
    pub host: String,
    #[serde(default = "default_imap_port")]
    pub port: u16,
    #[serde(default = "default_security")]
    pub security: MailSecurity,
    pub username: String,
    pub password: String,
    #[serde(default = "default_folder")]
    pub folder: String,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_true")]
    pub idle: bool,
    #[serde(default = "default_poll_interval")]
    pub poll_interval_secs: u64,
    #[serde(default)]
    pub processed_folder: Option<String>,
}

fn default_imap_port() -> u16 {
    993
}
fn default_security() -> MailSecurity {
    MailSecurity::Tls
}
fn default_folder() -> String {
    "INBOX".into()
}
fn default_true() -> bool {
    true
}
fn default_poll_interval() -> u64 {
    30
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub url: String,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySettings {
    pub from: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    pub own_addresses: Vec<String>,
    /// A notification that keeps failing transiently is `dead` once this many hours have
    /// passed since it was enqueued.
    pub retry_horizon_hours: u32,
    /// First retry delay; each further attempt doubles it (with jitter), up to `retry_max_secs`.
    pub retry_base_secs: u64,
    pub retry_max_secs: u64,
    /// Automatic notifications (acknowledgements, closings) one recipient gets per hour at
    /// most; beyond it they are `failed` with a "loop budget" reason (0: no limit).
    pub per_recipient_per_hour: u32,
    /// How long a worker holds a claimed notification before another may take it over.
    pub lease_secs: u64,
    /// Notifications the worker sends at the same time (each over its own pooled connection).
    pub send_concurrency: u32,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            from: "Support <no-reply@peyk.example>".into(),
            reply_to: None,
            own_addresses: vec![
                "support@peyk.example".into(),
                "no-reply@peyk.example".into(),
            ],
            retry_horizon_hours: 24,
            retry_base_secs: 30,
            retry_max_secs: 3600,
            per_recipient_per_hour: 10,
            lease_secs: 300,
            send_concurrency: 4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsProviderKind {
    Log,
    Generic,
    Twilio,
    Kavenegar,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsSettings {
    pub provider: SmsProviderKind,
    /// Region for numbers written nationally (09121234567): ISO 3166 alpha-2.
    pub default_region: String,
    /// Inbound messages accepted per sender number per minute; over it: 429, nothing stored.
    pub inbound_per_number_per_minute: u32,
    /// Requests that fail authentication accepted per client address per minute.
    pub unauthenticated_per_address_per_minute: u32,
    /// Group commit: at most this many webhook messages share one transaction...
    pub group_commit_max_batch: u32,
    /// ...and the first of them waits at most this long for others.
    pub group_commit_max_wait_ms: u64,
    /// Outbound SMS notifications are shortened to fit this many segments.
    pub max_segments: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generic: Option<GenericSmsSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub twilio: Option<TwilioSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kavenegar: Option<KavenegarSettings>,
}

impl Default for SmsSettings {
    fn default() -> Self {
        Self {
            provider: SmsProviderKind::Log,
            default_region: "IR".into(),
            inbound_per_number_per_minute: 30,
            unauthenticated_per_address_per_minute: 60,
            group_commit_max_batch: 64,
            group_commit_max_wait_ms: 5,
            max_segments: 2,
            generic: None,
            twilio: None,
            kavenegar: None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GenericSmsSettings {
    pub api_url: Option<String>,
    pub api_key: Option<String>,
    pub inbound_secret: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TwilioSettings {
    pub account_sid: Option<String>,
    pub auth_token: Option<String>,
    pub from: Option<String>,
    pub api_base: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KavenegarSettings {
    pub api_key: Option<String>,
    pub sender: Option<String>,
    pub inbound_token: Option<String>,
    pub api_base: Option<String>,
}

/// Intake rules that desks tune.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeSettings {
    /// A reply to a ticket closed at most this many days ago reopens it; later, a new linked ticket.
    pub reopen_window_days: u32,
    /// An SMS without a ticket number joins the sender's newest open ticket updated this recently.
    pub sms_reply_window_days: u32,
    /// Items committed per transaction by `peyk import` and the pollers.
    pub batch_size: u32,
    /// New tickets one sender may open per hour; beyond it, messages are stored in the sender's
    /// newest ticket without an acknowledgement (0: no limit).
    pub new_tickets_per_sender_per_hour: u32,
}

impl Default for IntakeSettings {
    fn default() -> Self {
        Self {
            reopen_window_days: 14,
            sms_reply_window_days: 7,
            batch_size: 200,
            new_tickets_per_sender_per_hour: 20,
        }
    }
}

impl Settings {
    /// Reads `path` (the default path may be missing: then built-in defaults apply), then the
    /// `PEYK__…` variables of the process environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        let (path, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_PATH), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        Self::from_toml_and_env(&text, &path.display().to_string(), &env)
    }

    /// The pure core of [`Settings::load`]: TOML text over the defaults, then the variables.
    pub fn from_toml_and_env(
        text: &str,
        origin: &str,
        env: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        let file: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        let mut merged =
            toml::Value::try_from(Settings::default()).map_err(|e| ConfigError::Key {
                key: "(defaults)".into(),
                message: e.to_string(),
            })?;
        merge(&mut merged, toml::Value::Table(file));
        for (var, raw) in env {
            apply_env(&mut merged, var, raw)?;
        }
        let settings: Settings = serde_path_to_error::deserialize(merged).map_err(|e| {
            let key = e.path().to_string();
            ConfigError::Key {
                key,
                message: e.into_inner().to_string(),
            }
        })?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: String| {
            Err(ConfigError::Key {
                key: key.into(),
                message,
            })
        };
        if self.app.timezone.parse::<chrono_tz::Tz>().is_err() {
            return bad(
                "app.timezone",
                format!("unknown time zone {:?}", self.app.timezone),
            );
        }
        if self.app.attachment_max_bytes == 0 {
            return bad("app.attachment_max_bytes", "must be greater than 0".into());
        }
        let url = &self.database.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return bad(
                "database.url",
                "must start with sqlite:, postgres:// or postgresql://".into(),
            );
        }
        if !(self.http.public_url.starts_with("http://")
            || self.http.public_url.starts_with("https://"))
        {
            return bad(
                "http.public_url",
                format!(
                    "must be an http:// or https:// URL, not {:?}",
                    self.http.public_url
                ),
            );
        }
        if self.intake.batch_size == 0 {
            return bad("intake.batch_size", "must be greater than 0".into());
        }
        if sender_address(&self.notify.from).is_none() {
            return bad(
                "notify.from",
                format!("no email address in {:?}", self.notify.from),
            );
        }
        for (i, own) in self.notify.own_addresses.iter().enumerate() {
            if EmailAddress::parse(own).is_err() {
                return bad(
                    &format!("notify.own_addresses[{i}]"),
                    format!("not an email address: {own:?}"),
                );
            }
        }
        if self
            .sms
            .default_region
            .parse::<phonenumber::country::Id>()
            .is_err()
        {
            return bad(
                "sms.default_region",
                format!("unknown region {:?}", self.sms.default_region),
            );
        }
        let mut keys = std::collections::HashSet::new();
        for (i, mailbox) in self.mailboxes.iter().enumerate() {
            if mailbox.key.trim().is_empty()
                || mailbox.key == "import"
                || mailbox.key.starts_with("sms:")
            {
                return bad(
                    &format!("mailboxes[{i}].key"),
                    format!("{:?} is not a usable mailbox key", mailbox.key),
                );
            }
            if !keys.insert(mailbox.key.as_str()) {
                return bad(
                    &format!("mailboxes[{i}].key"),
                    format!("{:?} is used twice", mailbox.key),
                );
            }
            if mailbox.poll_interval_secs == 0 {
                return bad(
                    &format!("mailboxes[{i}].poll_interval_secs"),
                    "must be greater than 0".into(),
                );
            }
        }
        Ok(())
    }

    /// The addresses whose mail is never ticketed and who are never notified: `own_addresses`
    /// plus the `from` address.
    pub fn own_addresses(&self) -> Vec<EmailAddress> {
        let mut own: Vec<EmailAddress> = self
            .notify
            .own_addresses
            .iter()
            .filter_map(|a| EmailAddress::parse(a).ok())
            .collect();
        if let Some(from) = sender_address(&self.notify.from)
            && !own.contains(&from)
        {
            own.push(from);
        }
        own
    }

    pub fn mailbox(&self, key: &str) -> Option<&MailboxSettings> {
        self.mailboxes.iter().find(|m| m.key == key)
    }

    /// The SQLite database file, when the URL names one.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let rest = self
            .database
            .url
            .strip_prefix("sqlite://")
            .or_else(|| self.database.url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or("");
        (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
    }
}

/// The address part of `Name <address>` or a bare address.
pub fn sender_address(from: &str) -> Option<EmailAddress> {
    let inner = match (from.rfind('<'), from.rfind('>')) {
        (Some(open), Some(close)) if open < close => &from[open + 1..close],
        _ => from,
    };
    EmailAddress::parse(inner).ok()
}

fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(base), toml::Value::Table(over)) => {
            for (key, value) in over {
                match base.get_mut(&key) {
                    Some(existing) if existing.is_table() && value.is_table() => {
                        merge(existing, value)
                    }
                    _ => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, over) => *base = over,
    }
}

/// `PEYK__DATABASE__URL=…` sets `database.url`; `PEYK__MAILBOXES__0__PASSWORD` indexes the
/// array. The value takes the type of the value it replaces (so a numeric password stays a
/// string); a new key takes TOML syntax when it parses (`true`, `30`, `["a"]`), a string otherwise.
fn apply_env(root: &mut toml::Value, var: &str, raw: &str) -> Result<(), ConfigError> {
    let env_err = |message: String| ConfigError::Env {
        var: var.to_string(),
        message,
    };
    let path: Vec<String> = var[ENV_PREFIX.len()..]
        .split("__")
        .map(|s| s.to_ascii_lowercase())
        .collect();
    if path.iter().any(|s| s.is_empty()) {
        return Err(env_err("empty key segment".into()));
    }
    let mut node = root;
    for (i, segment) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        if let Ok(index) = segment.parse::<usize>() {
            let array = node.as_array_mut().ok_or_else(|| {
                env_err(format!("`{segment}` indexes something that is not a list"))
            })?;
            if index >= array.len() {
                return Err(env_err(format!(
                    "index {index} is past the {} configured entries",
                    array.len()
                )));
            }
            node = &mut array[index];
            if last {
                *node = typed_like(node, raw);
            }
            continue;
        }
        let table = node
            .as_table_mut()
            .ok_or_else(|| env_err(format!("`{segment}` is inside a value, not a section")))?;
        if last {
            let value = match table.get(segment.as_str()) {
                Some(existing) => typed_like(existing, raw),
                None => parse_loose(raw),
            };
            table.insert(segment.clone(), value);
            return Ok(());
        }
        node = table
            .entry(segment.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    }
    Ok(())
}

fn typed_like(existing: &toml::Value, raw: &str) -> toml::Value {
    match existing {
        toml::Value::String(_) => toml::Value::String(raw.to_string()),
        _ => parse_loose(raw),
    }
}

fn parse_loose(raw: &str) -> toml::Value {
    toml::from_str::<BTreeMap<String, toml::Value>>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut m| m.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_toml_and_env(text, "test.toml", &env)
    }

    #[test]
    fn the_shipped_default_config_loads() {
        let text = include_str!("../config/peyk.toml");
        let settings = load(text, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settings.database.url, "sqlite://data/peyk.db?mode=rwc");
        assert_eq!(settings.http.listen.to_string(), "127.0.0.1:8080");
        assert!(settings.mailboxes.is_empty());
        assert!(settings.smtp.is_none());
        assert_eq!(settings.sms.provider, SmsProviderKind::Log);
    }

    #[test]
    fn environment_overrides_file_values_and_keeps_their_types() {
        let settings = load(
            "[database]\nurl = \"sqlite://x.db\"\n[[mailboxes]]\nkey=\"support\"\nhost=\"h\"\nusername=\"u\"\npassword=\"p\"\n",
            &[
                ("PEYK__DATABASE__URL", "postgres://root@127.0.0.1/test"),
                ("PEYK__MAILBOXES__0__PASSWORD", "123456"),
                ("PEYK__MAILBOXES__0__PORT", "143"),
                ("PEYK__APP__ATTACHMENT_MAX_BYTES", "5"),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settings.database.url, "postgres://root@127.0.0.1/test");
        assert_eq!(settings.mailboxes[0].password, "123456");
        assert_eq!(settings.mailboxes[0].port, 143);
        assert_eq!(settings.app.attachment_max_bytes, 5);
    }

    #[test]
    fn unknown_keys_are_errors_that_name_the_key() {
        let err = load("[database]\nurll = \"x\"\n", &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("urll"), "{err}");
        let err = load("[databse]\nurl = \"x\"\n", &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("databse"), "{err}");
        let err = load("", &[("PEYK__HTTP__LISTENN", "x")])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("listenn"), "{err}");
    }

    #[test]
    fn bad_values_are_errors_that_name_the_key() {
        let err = load("[http]\nlisten = \"not-an-address\"\n", &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("http.listen"), "{err}");
        let err = load("[app]\ntimezone = \"Mars/Olympus\"\n", &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("app.timezone"), "{err}");
        let err = load("[app]\ndefault_language = \"de\"\n", &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("app.default_language"), "{err}");
        let err = load("", &[("PEYK__APP__ATTACHMENT_MAX_BYTES", "lots")])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("app.attachment_max_bytes"), "{err}");
    }

    #[test]
    fn own_addresses_include_the_sender() {
        let settings = load("[notify]\nfrom = \"Help <No-Reply@Desk.example>\"\nown_addresses = [\"help@desk.example\"]\n", &[])
            .unwrap_or_else(|e| panic!("{e}"));
        let own: Vec<String> = settings
            .own_addresses()
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(own, vec!["help@desk.example", "no-reply@desk.example"]);
    }
}
