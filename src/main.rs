//! Entry: parse the command (serve, migrate, agent add, import), run it; errors become one
//! line on stderr and a non-zero exit status.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use peyk::app::{App, shutdown_signal};
use peyk::clock::{SharedClock, SystemClock};
use peyk::config::Settings;
use peyk::domain::ticket::Language;
use peyk::import::{ImportTarget, import_files};
use peyk::intake::{Intake, IntakeRules};
use peyk::service::agents::{AgentRole, add_agent};
use peyk::service::inbound::retry_dead_letters;
use peyk::store::Store;

#[derive(Parser)]
#[command(
    name = "peyk",
    version,
    about = "Support-ticket gateway: email and SMS in, tickets out"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything: HTTP, mailbox pollers, the outbox worker. Applies migrations first.
    Serve {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Apply pending migrations and exit.
    Migrate {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Manage agents.
    Agent {
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// Inbound items: dead letters.
    Inbound {
        #[command(subcommand)]
        command: InboundCommand,
    },
    /// Feed saved .eml files through intake; one line per file: FILE, OUTCOME, TICKET, REASON.
    Import {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Treat the files as arriving in this configured mailbox.
        #[arg(long)]
        mailbox: Option<String>,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum InboundCommand {
    /// Run dead letters (inbound items that ended in an `error` receipt) through intake again;
    /// prints SOURCE, EXTERNAL_ID, OUTCOME, TICKET, REASON per item.
    Retry {
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AgentCommand {
    /// Create an agent; the password is read as one line from standard input.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        admin: bool,
        /// Interface language of the agent: fa or en (default: app.default_language).
        #[arg(long)]
        language: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,sea_orm=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("peyk: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("peyk: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn clock() -> SharedClock {
    Arc::new(SystemClock)
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { config } => {
            let settings = Settings::load(config.as_deref())?;
            let shutdown = shutdown_signal().context("cannot install the signal handlers")?;
            let app = App::build(settings, clock()).await?;
            if let Some((email, password)) = &app.first_admin {
                println!("Created the first agent, an admin: {email}");
                println!(
                    "One-time password (shown only now; change it after logging in): {password}"
                );
            }
            if let Some(addr) = app.local_addr() {
                println!("peyk listening on http://{addr}");
            }
            app.run_until_stopped(shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { config } => {
            let settings = Settings::load(config.as_deref())?;
            let store = Store::connect(&settings.database).await?;
            store.migrate().await?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Agent {
            command:
                AgentCommand::Add {
                    email,
                    name,
                    admin,
                    language,
                    config,
                },
        } => {
            let settings = Settings::load(config.as_deref())?;
            let language = match language.as_deref() {
                None => None,
                Some(code) => Some(
                    Language::parse(code)
                        .with_context(|| format!("--language {code:?}: expected fa or en"))?,
                ),
            };
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("cannot read the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                bail!("no password on standard input");
            }
            let store = Store::connect(&settings.database).await?;
            store.migrate().await?;
            let role = if admin {
                AgentRole::Admin
            } else {
                AgentRole::Agent
            };
            let agent = add_agent(&store, &SystemClock, &email, &name, password, role).await?;
            if let Some(language) = language {
                peyk::store::agents::set_language(store.db(), agent.id, Some(language.as_str()))
                    .await?;
            }
            println!("agent {} created ({})", agent.email, agent.role);
            Ok(ExitCode::SUCCESS)
        }
        Command::Inbound {
            command: InboundCommand::Retry { config },
        } => {
            let settings = Settings::load(config.as_deref())?;
            let store = Store::connect(&settings.database).await?;
            store.migrate().await?;
            let clock = clock();
            let intake = Intake::new(store, IntakeRules::from_settings(&settings), clock.clone());
            let department_of =
                |source: &str| settings.mailbox(source).and_then(|m| m.department.clone());
            let retried = retry_dead_letters(
                &intake,
                clock.as_ref(),
                department_of,
                settings.app.attachment_max_bytes,
            )
            .await?;
            for item in &retried {
                let field = |s: Option<&str>| {
                    s.filter(|s| !s.is_empty())
                        .unwrap_or("-")
                        .replace(['\t', '\n'], " ")
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    item.source,
                    item.external_id,
                    item.result.outcome.as_str(),
                    field(item.result.ticket_number.as_deref()),
                    field(item.result.reason.as_deref())
                );
            }
            eprintln!("{} dead letters retried", retried.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Import {
            config,
            mailbox,
            files,
        } => {
            let settings = Settings::load(config.as_deref())?;
            let target =
                ImportTarget::new(&settings, mailbox.as_deref()).map_err(anyhow::Error::msg)?;
            let store = Store::connect(&settings.database).await?;
            store.migrate().await?;
            let clock = clock();
            let intake = Intake::new(store, IntakeRules::from_settings(&settings), clock.clone());
            let mut out = std::io::stdout().lock();
            let unreadable = import_files(
                &intake,
                clock.as_ref(),
                &target,
                &files,
                settings.app.attachment_max_bytes,
                settings.intake.batch_size as usize,
                &mut out,
            )
            .await?;
            Ok(if unreadable > 0 {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
