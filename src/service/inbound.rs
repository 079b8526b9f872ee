//! Receipts that made no ticket, acted on by people: dead letters (`error` receipts) run again
//! after a fix, and ignored or held messages that an agent says are a person's after all.

use crate::clock::Clock;
use crate::domain::ticket::Channel;
use crate::inbound::email::parse_email;
use crate::intake::{
    InboundItem, Intake, IntakeError, IntakeOutcome, IntakeResult, UnreadableItem,
};
use crate::store::{self, inbound::Receipt};

/// What one retried dead letter became.
#[derive(Debug, Clone)]
pub struct RetriedDeadLetter {
    pub source: String,
    pub external_id: String,
    pub result: IntakeResult,
}

/// Why a receipt cannot be acted on.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptActionError {
    #[error("receipt {0} not found")]
    NotFound(i64),
    #[error("{0}")]
    NotApplicable(String),
    #[error(transparent)]
    Intake(#[from] IntakeError),
}

/// The receipt's kept raw email, parsed again as it first arrived.
fn reparse(
    receipt: &Receipt,
    clock: &dyn Clock,
    department: Option<&str>,
    attachment_max_bytes: u64,
) -> Option<InboundItem> {
    if receipt.channel != Channel::Email.as_str() {
        return None;
    }
    let raw = receipt.raw_source.clone()?;
    let parsed = parse_email(
        &raw,
        &receipt.source,
        department,
        attachment_max_bytes,
        receipt.received_at,
    );
    Some(match parsed.result {
        Ok(mut message) => {
            // Keep the identity the item was first stored under (a reused Message-ID may have
            // moved it to its content hash).
            message.external_id = receipt.external_id.clone();
            InboundItem::Parsed(Box::new(message))
        }
        Err(error) => InboundItem::Unreadable(UnreadableItem {
            channel: Channel::Email,
            source: receipt.source.clone(),
            external_id: receipt.external_id.clone(),
            content_hash: parsed.content_hash,
            reason: error.to_string(),
            raw,
            received_at: clock.now(),
        }),
    })
}

/// Re-parses and re-ingests every dead letter that kept its raw source (email). Department
/// comes from the mailbox the item arrived in.
pub async fn retry_dead_letters(
    intake: &Intake,
    clock: &dyn Clock,
    department_of: impl Fn(&str) -> Option<String>,
    attachment_max_bytes: u64,
) -> Result<Vec<RetriedDeadLetter>, IntakeError> {
    let dead = store::inbound::dead_letters(intake.store().db(), 10_000).await?;
    let mut retried = Vec::with_capacity(dead.len());
    for receipt in dead {
        let department = department_of(&receipt.source);
        let Some(item) = reparse(&receipt, clock, department.as_deref(), attachment_max_bytes)
        else {
            continue;
        };
        let result = intake.retry_dead_letter(receipt.id, item).await?;
        retried.push(RetriedDeadLetter {
            source: receipt.source,
            external_id: receipt.external_id,
            result,
        });
    }
    Ok(retried)
}

/// Receipt `receipt_id` when its outcome is `wanted`; otherwise why not (`refusal`).
async fn receipt_with_outcome(
    intake: &Intake,
    receipt_id: i64,
    wanted: IntakeOutcome,
    refusal: &str,
) -> Result<Receipt, ReceiptActionError> {
    let receipt = store::inbound::receipt_by_id(intake.store().db(), receipt_id)
        .await
        .map_err(IntakeError::from)?
        .ok_or(ReceiptActionError::NotFound(receipt_id))?;
    if receipt.outcome != wanted.as_str() {
        return Err(ReceiptActionError::NotApplicable(format!(
            "receipt {receipt_id} is {}: {refusal}",
            receipt.outcome
        )));
    }
    Ok(receipt)
}

/// Runs one dead letter (receipt `receipt_id`, outcome `error`) through intake again.
pub async fn retry_one_dead_letter(
    intake: &Intake,
    clock: &dyn Clock,
    receipt_id: i64,
    department_of: impl Fn(&str) -> Option<String>,
    attachment_max_bytes: u64,
) -> Result<IntakeResult, ReceiptActionError> {
    let receipt = receipt_with_outcome(
        intake,
        receipt_id,
        IntakeOutcome::Error,
        "not a dead letter",
    )
    .await?;
    let department = department_of(&receipt.source);
    let item =
        reparse(&receipt, clock, department.as_deref(), attachment_max_bytes).ok_or_else(|| {
            ReceiptActionError::NotApplicable(format!(
                "receipt {receipt_id} kept no email to run again"
            ))
        })?;
    Ok(intake.retry_dead_letter(receipt.id, item).await?)
}

/// Makes a ticket of an ignored (or held) email: an agent read it and says a person wrote it.
/// Classification is skipped; threading and everything after it run as for any message.
pub async fn make_ticket_of_receipt(
    intake: &Intake,
    clock: &dyn Clock,
    receipt_id: i64,
    agent_name: &str,
    department_of: impl Fn(&str) -> Option<String>,
    attachment_max_bytes: u64,
) -> Result<IntakeResult, ReceiptActionError> {
    let receipt = receipt_with_outcome(
        intake,
        receipt_id,
        IntakeOutcome::Ignored,
        "only ignored or held messages can be made a ticket",
    )
    .await?;
    let department = department_of(&receipt.source);
    let item = reparse(&receipt, clock, department.as_deref(), attachment_max_bytes);
    let Some(InboundItem::Parsed(message)) = item else {
        return Err(ReceiptActionError::NotApplicable(format!(
            "receipt {receipt_id} kept no readable email"
        )));
    };
    if !message.has_sender() {
        return Err(ReceiptActionError::NotApplicable(
            "the message has no sender address to answer".into(),
        ));
    }
    if message.is_empty() {
        return Err(ReceiptActionError::NotApplicable(
            "the message is empty: there is nothing to answer".into(),
        ));
    }
    let note = format!(
        "made a ticket by {agent_name} (was ignored: {})",
        receipt.reason.as_deref().unwrap_or("no reason")
    );
    Ok(intake.ticket_receipt(receipt.id, &message, note).await?)
}
