//! `/healthz` (the process is up), `/readyz` (the database answers; mailbox states in the body)
//! and `/metrics` (Prometheus text).

use std::fmt::Write;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use super::WebState;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<WebState>) -> (StatusCode, Json<serde_json::Value>) {
    let mailboxes = state.mailboxes.snapshot();
    if state.store.ping().await {
        (
            StatusCode::OK,
            Json(json!({"status": "ready", "database": "ok", "mailboxes": mailboxes})),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not ready", "database": "unreachable", "mailboxes": mailboxes})),
        )
    }
}

async fn metrics(State(state): State<WebState>) -> impl IntoResponse {
    let mut out = String::new();
    let database_up = u8::from(state.store.ping().await);
    let _ = writeln!(
        out,
        "# HELP peyk_database_up 1 when the database answers.\n# TYPE peyk_database_up gauge\npeyk_database_up {database_up}"
    );
    let mailboxes = state.mailboxes.snapshot();
    let gauges: [(&str, &str, &str); 4] = [
        (
            "peyk_mailbox_connected",
            "gauge",
            "1 while the mailbox poller holds a logged-in connection.",
        ),
        (
            "peyk_mailbox_backlog",
            "gauge",
            "Messages on the server above the last committed UID.",
        ),
        (
            "peyk_mailbox_ingested_total",
            "counter",
            "Messages committed by this process.",
        ),
        (
            "peyk_mailbox_reconnects_total",
            "counter",
            "Failed connections or syncs, each followed by a reconnect.",
        ),
    ];
    for (name, kind, help) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (key, status) in &mailboxes {
            let value = match name {
                "peyk_mailbox_connected" => u64::from(status.connected),
                "peyk_mailbox_backlog" => status.backlog,
                "peyk_mailbox_ingested_total" => status.ingested,
                _ => status.reconnects,
            };
            let _ = writeln!(out, "{name}{{mailbox=\"{}\"}} {value}", label(key));
        }
    }
    let _ = writeln!(
        out,
        "# HELP peyk_mailbox_last_success_timestamp_seconds When the last sync of the mailbox succeeded.\n# TYPE peyk_mailbox_last_success_timestamp_seconds gauge"
    );
    for (key, status) in &mailboxes {
        if let Some(at) = status.last_success_at {
            let _ = writeln!(
                out,
                "peyk_mailbox_last_success_timestamp_seconds{{mailbox=\"{}\"}} {}",
                label(key),
                at.timestamp()
            );
        }
    }
    if let Ok(counts) = crate::store::inbound::count_by_outcome(state.store.db()).await {
        let _ = writeln!(
            out,
            "# HELP peyk_inbound_receipts Inbound items stored, by outcome.\n# TYPE peyk_inbound_receipts gauge"
        );
        for (outcome, n) in counts {
            let _ = writeln!(
                out,
                "peyk_inbound_receipts{{outcome=\"{}\"}} {n}",
                label(&outcome)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP peyk_outbox_items Notifications in the outbox, by delivery status.\n# TYPE peyk_outbox_items gauge"
    );
    for status in [
        crate::store::outbox::status::PENDING,
        crate::store::outbox::status::SENT,
        crate::store::outbox::status::FAILED,
        crate::store::outbox::status::DEAD,
    ] {
        if let Ok(n) = crate::store::outbox::count_by_status(state.store.db(), status).await {
            let _ = writeln!(out, "peyk_outbox_items{{status=\"{status}\"}} {n}");
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}

/// A Prometheus label value with `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
