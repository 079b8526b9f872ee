//! Dead letters: inbound items that ended as `error` receipts, run again after a fix.

use crate::clock::Clock;
use crate::domain::ticket::Channel;
use crate::inbound::email::parse_email;
use crate::intake::{InboundItem, Intake, IntakeError, IntakeResult, UnreadableItem};
use crate::store;

/// What one retried dead letter became.
#[derive(Debug, Clone)]
pub struct RetriedDeadLetter {
    pub source: String,
    pub external_id: String,
    pub result: IntakeResult,
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
        if receipt.channel != Channel::Email.as_str() {
            continue;
        }
        let Some(raw) = receipt.raw_source.clone() else {
            continue;
        };
        let department = department_of(&receipt.source);
        let parsed = parse_email(
            &raw,
            &receipt.source,
            department.as_deref(),
            attachment_max_bytes,
            receipt.received_at,
        );
        let item = match parsed.result {
            Ok(mut message) => {
                // Keep the identity the item was first stored under (a reused Message-ID may
                // have moved it to its content hash).
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
