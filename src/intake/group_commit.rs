//! Group commit: items that arrive at the same time share one transaction and one durable
//! commit.
//!
//! Callers hand an item to a [`GroupCommitter`] and wait for its result. One task collects
//! the items: after the first it waits at most `max_wait` for others (or until `max_batch`
//! are there), runs them through [`Intake::ingest_batch`] in one commit, then answers each
//! caller. A caller is answered only after the commit, so an answer means "durably stored";
//! if the commit fails, every caller of that batch gets [`GroupCommitError::CommitFailed`]
//! and nothing of the batch is stored.

use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{InboundItem, Intake, IntakeResult};

/// How many callers a batch may gather and how long the first of them waits for the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommitLimits {
    pub max_batch: usize,
    pub max_wait: Duration,
}

impl GroupCommitLimits {
    /// `max_batch` below 1 is taken as 1 (every item commits alone).
    pub fn new(max_batch: usize, max_wait: Duration) -> Self {
        Self {
            max_batch: max_batch.max(1),
            max_wait,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupCommitError {
    #[error("the batch could not be committed: {0}")]
    CommitFailed(String),
    #[error("the committing task has stopped")]
    Stopped,
}

/// One waiting caller: its item and where its result goes.
struct Pending {
    item: InboundItem,
    reply: oneshot::Sender<Result<IntakeResult, GroupCommitError>>,
}

/// The door to the committing task. The task starts with the first item (so a committer can
/// be made outside a Tokio runtime) and ends when the committer is dropped.
pub struct GroupCommitter {
    intake: Intake,
    limits: GroupCommitLimits,
    queue: OnceLock<mpsc::Sender<Pending>>,
}

impl GroupCommitter {
    pub fn new(intake: Intake, limits: GroupCommitLimits) -> Self {
        Self {
            intake,
            limits,
            queue: OnceLock::new(),
        }
    }

    /// Stores `item` together with whatever else arrives meanwhile; answers after the commit.
    pub async fn submit(&self, item: InboundItem) -> Result<IntakeResult, GroupCommitError> {
        let (reply, result) = oneshot::channel();
        self.queue()
            .send(Pending { item, reply })
            .await
            .map_err(|_| GroupCommitError::Stopped)?;
        result.await.map_err(|_| GroupCommitError::Stopped)?
    }

    fn queue(&self) -> &mpsc::Sender<Pending> {
        self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(self.limits.max_batch.saturating_mul(4));
            tokio::spawn(run_batches(self.intake.clone(), receiver, self.limits));
            sender
        })
    }
}

/// The committing task: gather a batch, commit it, answer its callers; until every sender is
/// gone and the queue is empty.
async fn run_batches(
    intake: Intake,
    mut queue: mpsc::Receiver<Pending>,
    limits: GroupCommitLimits,
) {
    let mut batch: Vec<Pending> = Vec::with_capacity(limits.max_batch);
    loop {
        if queue.recv_many(&mut batch, limits.max_batch).await == 0 {
            break;
        }
        let deadline = Instant::now() + limits.max_wait;
        while batch.len() < limits.max_batch {
            let room = limits.max_batch - batch.len();
            match tokio::time::timeout_at(deadline, queue.recv_many(&mut batch, room)).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        commit(&intake, std::mem::take(&mut batch)).await;
    }
}

async fn commit(intake: &Intake, batch: Vec<Pending>) {
    let (items, replies): (Vec<InboundItem>, Vec<_>) =
        batch.into_iter().map(|p| (p.item, p.reply)).unzip();
    let count = items.len();
    let started = Instant::now();
    let outcome = AssertUnwindSafe(intake.ingest_batch(items))
        .catch_unwind()
        .await;
    tracing::debug!(
        items = count,
        micros = started.elapsed().as_micros() as u64,
        "group commit"
    );
    let failure = match outcome {
        Ok(Ok(results)) if results.len() == count => {
            for (reply, result) in replies.into_iter().zip(results) {
                // A caller that went away is fine: its item is stored; a retry finds it.
                let _ = reply.send(Ok(result));
            }
            return;
        }
        Ok(Ok(results)) => format!("{} results for {count} items", results.len()),
        Ok(Err(cause)) => cause.to_string(),
        Err(_) => "intake panicked".to_string(),
    };
    tracing::error!(items = count, error = %failure, "group commit failed; every caller of the batch is told to retry");
    for reply in replies {
        let _ = reply.send(Err(GroupCommitError::CommitFailed(failure.clone())));
    }
}
