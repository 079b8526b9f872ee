//! Wiring: `App::build(settings)` connects, migrates and binds; `port()` tells the bound port;
//! `run_until_stopped` serves until the shutdown future resolves, then drains and returns.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::config::{Settings, sender_address};
use crate::intake::{Intake, IntakeRules};
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
}

pub struct App {
    listener: TcpListener,
    state: WebState,
    /// Set when this start created the first admin: (email, one-time password).
    pub first_admin: Option<(String, String)>,
    pub settings: Arc<Settings>,
    pub clock: SharedClock,
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
        let settings = Arc::new(settings);
        let state = WebState {
            store,
            intake,
            settings: settings.clone(),
            clock: clock.clone(),
        };
        Ok(Self {
            listener,
            state,
            first_admin,
            settings,
            clock,
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

    /// Serves HTTP until `shutdown` resolves; in-flight requests finish, then it returns.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        tokio::spawn(async move {
            shutdown.await;
            stop.cancel();
        });
        let router = web::router(self.state.clone());
        axum::serve(self.listener, router)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await
            .map_err(AppError::Serve)?;
        tracing::info!("stopped cleanly");
        Ok(())
    }
}

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
