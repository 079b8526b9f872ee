//! Wiring: `App::build(settings)` connects, migrates and binds; `port()` tells the bound port;
//! `run_until_stopped` serves until the shutdown future resolves, then drains and returns.

use std::future::Future;
use std::sync::Arc;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::inbound::email::{MailboxMonitor, MailboxPoller};

use crate::clock::SharedClock;
use crate::config::{Settings, sender_address};
use crate::intake::{Intake, IntakeRules};
use crate::outbound::worker::{OutboundSetupError, OutboxWorker};
use crate::service::agents::{AgentError, ensure_first_admin};
use crate::store::{Store, StoreError};
use crate::web::{self, WebState};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    Outbound(#[from] OutboundSetupError),
}

pub struct App {
    listener: TcpListener,
    state: WebState,
    /// Set when this start created the first admin: (email, one-time password).
    pub first_admin: Option<(String, String)>,
    pub settings: Arc<Settings>,
    pub clock: SharedClock,
    outbox: OutboxWorker,
}

impl App {
    pub async fn build(settings: Settings, clock: SharedClock) -> Result<Self, AppError> {
        let store = Store::connect(&settings.database).await?;
        store.migrate().await?;
        let domain = sender_address(&settings.notify.from)
            .map(|a| a.domain().to_string())
            .unwrap_or_else(|| "peyk.invalid".into());
        let first_admin = ensure_first_admin(&store, clock.as_ref(), &domain).await?;
        let addr = settings.http.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| AppError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        let intake = Intake::new(
            store.clone(),
            IntakeRules::from_settings(&settings),
            clock.clone(),
        );
        let outbox = OutboxWorker::from_settings(
            store.clone(),
            clock.clone(),
            &settings,
            intake.outbox_wakeup(),
        )?;
        let settings = Arc::new(settings);
        let mailboxes = MailboxMonitor::new(settings.mailboxes.iter().map(|m| m.key.as_str()));
        let state = WebState {
            store,
            intake,
            mailboxes,
            settings: settings.clone(),
            clock: clock.clone(),
        };
        Ok(Self {
            listener,
            state,
            first_admin,
            settings,
            clock,
            outbox,
        })
    }

    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.listener.local_addr().ok()
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    pub fn intake(&self) -> &Intake {
        &self.state.intake
    }

    /// The outbox worker this app runs (tests drive it step by step).
    pub fn outbox_worker(&self) -> &OutboxWorker {
        &self.outbox
    }

    /// Starts one poller per configured mailbox and the outbox worker, and serves HTTP until `shutdown` resolves;
    /// then stops accepting, lets in-flight requests finish, cancels the pollers and waits for
    /// them (each stops between two commits), and returns.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        let cancel = CancellationToken::new();
        let workers = TaskTracker::new();
        for mailbox in &self.settings.mailboxes {
            let poller = MailboxPoller::new(
                mailbox.clone(),
                self.state.intake.clone(),
                self.clock.clone(),
                self.state.mailboxes.clone(),
                self.settings.intake.batch_size as usize,
                self.settings.app.attachment_max_bytes,
            );
            workers.spawn(poller.run(cancel.child_token()));
        }
        workers.spawn(self.outbox.clone().run(cancel.child_token()));
        workers.close();

        let stop_http = cancel.clone();
        tokio::spawn(async move {
            shutdown.await;
            stop_http.cancel();
        });
        let router = web::router(self.state.clone());
        let served = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(cancel.clone().cancelled_owned())
        .await;
        cancel.cancel();
        if tokio::time::timeout(WORKER_STOP_TIMEOUT, workers.wait())
            .await
            .is_err()
        {
            tracing::warn!("workers did not stop within {WORKER_STOP_TIMEOUT:?}; exiting anyway");
        }
        served.map_err(AppError::Serve)?;
        tracing::info!("stopped cleanly");
        Ok(())
    }
}

/// How long shutdown waits for pollers and workers to finish their current step.
const WORKER_STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Installs the SIGTERM and SIGINT handlers now (so a signal that arrives while the server is
/// still starting is not fatal) and returns a future that resolves on the first of them.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received, stopping"),
            _ = interrupt.recv() => tracing::info!("SIGINT received, stopping"),
        }
    })
}
