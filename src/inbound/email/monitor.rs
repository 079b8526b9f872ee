//! What each mailbox poller is doing, for /readyz and /metrics.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The state of one mailbox as its poller last reported it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MailboxStatus {
    pub connected: bool,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Messages found on the server above the last committed UID and not yet committed.
    pub backlog: u64,
    /// Messages committed since the process started.
    pub ingested: u64,
    pub reconnects: u64,
}

/// Statuses of every configured mailbox, shared by the pollers and the HTTP handlers.
#[derive(Debug, Clone, Default)]
pub struct MailboxMonitor {
    statuses: Arc<Mutex<BTreeMap<String, MailboxStatus>>>,
}

impl MailboxMonitor {
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a str>) -> Self {
        let statuses = keys
            .into_iter()
            .map(|k| (k.to_string(), MailboxStatus::default()))
            .collect();
        Self {
            statuses: Arc::new(Mutex::new(statuses)),
        }
    }

    pub fn update(&self, key: &str, change: impl FnOnce(&mut MailboxStatus)) {
        if let Ok(mut statuses) = self.statuses.lock() {
            change(statuses.entry(key.to_string()).or_default());
        }
    }

    pub fn snapshot(&self) -> BTreeMap<String, MailboxStatus> {
        self.statuses.lock().map(|s| s.clone()).unwrap_or_default()
    }
}
