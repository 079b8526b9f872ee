//! Which ticket an inbound message belongs to. Two pure steps around one store lookup:
//! [`ThreadKeys::extract`] reads what the message names (Message-IDs, a `[#N]` tag, an SMS
//! number), the store finds the tickets those keys point at, and [`decide`] applies the rules:
//!
//! 1. In-Reply-To or References naming a Message-ID Peyk stored or sent → that ticket.
//! 2. A `[#N]` subject tag of a ticket whose customer is the sender → that ticket; a tag of
//!    someone else's ticket → a new ticket that records the reference.
//! 3. SMS only: a number at the start of the text (same ownership rule), else the sender's
//!    newest open ticket updated within the window.
//! 4. Otherwise a new ticket.
//!
//! A reply to a closed ticket reopens it within the reopen window; after it, a new ticket
//! linked to the old one.

use std::sync::LazyLock;

use chrono::{DateTime, Duration, Utc};
use regex::Regex;

use super::digits::to_ascii_digits;
use super::ticket::{Channel, TicketStatus};
use super::ticket_number::{TicketNumber, TicketNumberError};

const DIGIT_CLASS: &str = r"[0-9\x{06F0}-\x{06F9}\x{0660}-\x{0669}]";

static SUBJECT_TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"\[\s*#\s*({DIGIT_CLASS}{{1,12}})\s*\]")).expect("tag pattern is valid")
});

static SMS_LEADING_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"^[\s\x{{200c}}\x{{200f}}\x{{200e}}]*#?\s*({DIGIT_CLASS}{{7}}(?:{DIGIT_CLASS}{{2}})?)(?:[^0-9\x{{06F0}}-\x{{06F9}}\x{{0660}}-\x{{0669}}]|$)"))
        .expect("SMS number pattern is valid")
});

static REPLY_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*((re|fw|fwd|aw|wg|tr|sv|vs|rv|r)\s*(\[\d+\])?\s*[:：]|پاسخ\s*[:：]|ارسال\s*مجدد\s*[:：]|جواب\s*[:：]|باز\s*ارسال\s*[:：])\s*")
        .expect("reply prefix pattern is valid")
});

/// A ticket number as a customer wrote it: valid, or mistyped (kept for the record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberMention {
    Valid(TicketNumber),
    Mistyped {
        written: String,
        error: TicketNumberError,
    },
}

/// What an inbound message names that could tie it to a ticket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThreadKeys {
    /// Message-IDs (with angle brackets) in the order to try: In-Reply-To, then References
    /// from the newest (last) to the oldest.
    pub message_ids: Vec<String>,
    /// The first `[#N]` tag of the subject.
    pub subject_tag: Option<NumberMention>,
    /// SMS only: a ticket number at the start of the text.
    pub sms_number: Option<NumberMention>,
}

impl ThreadKeys {
    pub fn extract(
        channel: Channel,
        subject: Option<&str>,
        text: &str,
        in_reply_to: &[String],
        references: &[String],
    ) -> Self {
        let mut message_ids: Vec<String> = Vec::new();
        for id in in_reply_to.iter().chain(references.iter().rev()) {
            let id = normalize_message_id(id);
            if !id.is_empty() && !message_ids.contains(&id) {
                message_ids.push(id);
            }
        }
        let subject_tag = subject.and_then(find_subject_tag);
        let sms_number = if channel == Channel::Sms {
            find_sms_number(text)
        } else {
            None
        };
        Self {
            message_ids,
            subject_tag,
            sms_number,
        }
    }

    /// The ticket number to look up for rule 2 or 3.
    pub fn named_number(&self) -> Option<&TicketNumber> {
        [&self.subject_tag, &self.sms_number]
            .into_iter()
            .flatten()
            .find_map(|m| match m {
                NumberMention::Valid(n) => Some(n),
                NumberMention::Mistyped { .. } => None,
            })
    }
}

/// A Message-ID as `<id>`: one pair of angle brackets, no surrounding space.
pub fn normalize_message_id(id: &str) -> String {
    let bare = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    if bare.is_empty() {
        String::new()
    } else {
        format!("<{bare}>")
    }
}

fn mention(written: &str) -> NumberMention {
    match TicketNumber::parse(written) {
        Ok(number) => NumberMention::Valid(number),
        Err(error) => NumberMention::Mistyped {
            written: to_ascii_digits(written),
            error,
        },
    }
}

/// The first `[#N]` tag of a subject, in any digit system, wherever the prefixes put it.
pub fn find_subject_tag(subject: &str) -> Option<NumberMention> {
    SUBJECT_TAG
        .captures(subject)
        .and_then(|c| c.get(1))
        .map(|m| mention(m.as_str()))
}

/// A ticket number at the very start of an SMS (`1234567 ...`, `#۱۲۳۴۵۶۷ ...`).
pub fn find_sms_number(text: &str) -> Option<NumberMention> {
    SMS_LEADING_NUMBER
        .captures(text)
        .and_then(|c| c.get(1))
        .map(|m| mention(m.as_str()))
}

/// The subject without reply/forward prefixes and ticket tags: the subject of a new ticket.
pub fn clean_subject(subject: &str) -> String {
    let mut rest = subject.trim().to_string();
    loop {
        let without_tag = SUBJECT_TAG.replace_all(&rest, " ");
        let without_prefix = REPLY_PREFIX.replace(without_tag.trim(), "");
        let next = without_prefix.trim().to_string();
        if next == rest {
            break;
        }
        rest = next;
    }
    rest.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first words of an SMS, as the subject of the ticket it opens.
pub fn subject_from_text(text: &str, max_chars: usize) -> String {
    let mut subject = String::new();
    for word in text.split_whitespace() {
        if subject.chars().count() + word.chars().count() + 1 > max_chars {
            if subject.is_empty() {
                subject = word.chars().take(max_chars).collect();
            }
            break;
        }
        if !subject.is_empty() {
            subject.push(' ');
        }
        subject.push_str(word);
    }
    subject
}

/// What the store knows about a ticket, enough to decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketSnapshot {
    pub id: i64,
    pub number: TicketNumber,
    pub customer_id: i64,
    pub status: TicketStatus,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// The tickets the keys point at, found by the store.
#[derive(Debug, Clone, Default)]
pub struct ThreadCandidates {
    /// Rule 1: the ticket of the first Message-ID Peyk knows.
    pub by_message_id: Option<TicketSnapshot>,
    /// Rules 2 and 3: the ticket whose number the message names (any owner).
    pub by_number: Option<TicketSnapshot>,
    /// Rule 3: the sender's newest ticket that is not closed.
    pub newest_open_of_sender: Option<TicketSnapshot>,
}

impl ThreadCandidates {
    /// The candidate with this id (the ticket a decision named).
    pub fn get(&self, ticket_id: i64) -> Option<&TicketSnapshot> {
        [
            &self.by_message_id,
            &self.by_number,
            &self.newest_open_of_sender,
        ]
        .into_iter()
        .flatten()
        .find(|t| t.id == ticket_id)
    }

    /// Replaces a new-ticket decision by a reply into `ticket`, the sender's newest ticket, when
    /// the sender is over the flood limit.
    pub fn flood_into(&mut self, ticket: TicketSnapshot) -> ThreadDecision {
        let decision = ThreadDecision::Reply {
            ticket_id: ticket.id,
            via: ThreadVia::RecentSmsTicket,
            new_status: ticket.status.after_customer_reply(),
        };
        self.newest_open_of_sender = Some(ticket);
        decision
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ThreadPolicy {
    pub reopen_window: Duration,
    pub sms_reply_window: Duration,
}

impl Default for ThreadPolicy {
    fn default() -> Self {
        Self {
            reopen_window: Duration::days(14),
            sms_reply_window: Duration::days(7),
        }
    }
}

/// Which rule tied a reply to its ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadVia {
    MessageId,
    SubjectTag,
    SmsNumber,
    RecentSmsTicket,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThreadDecision {
    Reply {
        ticket_id: i64,
        via: ThreadVia,
        new_status: Option<TicketStatus>,
    },
    NewTicket {
        /// The closed ticket this one follows (a reply after the reopen window).
        follows_ticket_id: Option<i64>,
        /// A ticket number the message named that could not be used, and why.
        noted_reference: Option<String>,
    },
}

/// Applies the rules to what the store found. `sender_customer_id` is `None` for a sender
/// Peyk has never seen (who therefore owns no ticket).
pub fn decide(
    channel: Channel,
    keys: &ThreadKeys,
    candidates: &ThreadCandidates,
    sender_customer_id: Option<i64>,
    now: DateTime<Utc>,
    policy: &ThreadPolicy,
) -> ThreadDecision {
    if let Some(ticket) = &candidates.by_message_id {
        return reply_or_follow_up(ticket, ThreadVia::MessageId, now, policy, None);
    }

    let mut noted_reference: Option<String> = None;
    let mention = if channel == Channel::Sms && keys.sms_number.is_some() {
        keys.sms_number.as_ref().map(|m| (m, ThreadVia::SmsNumber))
    } else {
        keys.subject_tag
            .as_ref()
            .map(|m| (m, ThreadVia::SubjectTag))
    };
    if let Some((mention, via)) = mention {
        match mention {
            NumberMention::Valid(number) => match &candidates.by_number {
                Some(ticket)
                    if &ticket.number == number
                        && Some(ticket.customer_id) == sender_customer_id =>
                {
                    return reply_or_follow_up(ticket, via, now, policy, None);
                }
                Some(ticket) if &ticket.number == number => {
                    noted_reference = Some(format!("names ticket {number} of another customer"));
                }
                _ => noted_reference = Some(format!("names ticket {number}, which does not exist")),
            },
            NumberMention::Mistyped { written, error } => {
                noted_reference = Some(format!(
                    "names ticket {written}, not a valid number ({error})"
                ));
            }
        }
    }

    // A number that was named but could not be used opens a new ticket that notes it, rather
    // than guessing the sender meant their latest ticket.
    if channel == Channel::Sms
        && noted_reference.is_none()
        && let Some(ticket) = &candidates.newest_open_of_sender
        && Some(ticket.customer_id) == sender_customer_id
        && ticket.status != TicketStatus::Closed
        && now - ticket.updated_at <= policy.sms_reply_window
    {
        return ThreadDecision::Reply {
            ticket_id: ticket.id,
            via: ThreadVia::RecentSmsTicket,
            new_status: ticket.status.after_customer_reply(),
        };
    }

    ThreadDecision::NewTicket {
        follows_ticket_id: None,
        noted_reference,
    }
}

fn reply_or_follow_up(
    ticket: &TicketSnapshot,
    via: ThreadVia,
    now: DateTime<Utc>,
    policy: &ThreadPolicy,
    noted_reference: Option<String>,
) -> ThreadDecision {
    if ticket.status == TicketStatus::Closed {
        let closed_at = ticket.closed_at.unwrap_or(ticket.updated_at);
        if now - closed_at > policy.reopen_window {
            return ThreadDecision::NewTicket {
                follows_ticket_id: Some(ticket.id),
                noted_reference,
            };
        }
    }
    ThreadDecision::Reply {
        ticket_id: ticket.id,
        via,
        new_status: ticket.status.after_customer_reply(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::digits::{to_arabic_indic_digits, to_persian_digits};

    fn number() -> TicketNumber {
        TicketNumber::from_body([5, 1, 9, 3, 0, 7])
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-30T10:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn ticket(customer_id: i64, status: TicketStatus, updated_days_ago: i64) -> TicketSnapshot {
        let updated = now() - Duration::days(updated_days_ago);
        TicketSnapshot {
            id: 10,
            number: number(),
            customer_id,
            status,
            updated_at: updated,
            closed_at: (status == TicketStatus::Closed).then_some(updated),
        }
    }

    fn email_keys(subject: &str) -> ThreadKeys {
        ThreadKeys::extract(Channel::Email, Some(subject), "", &[], &[])
    }

    #[test]
    fn tags_are_found_behind_prefixes_in_every_digit_system() {
        let n = number();
        for subject in [
            format!("Re: [#{n}] Internet down"),
            format!(
                "RE: Fwd: FW: AW: [#{}] Internet down",
                to_persian_digits(n.as_str())
            ),
            format!("پاسخ: [#{}] قطعی", to_arabic_indic_digits(n.as_str())),
            format!("[# {n} ]"),
        ] {
            assert_eq!(
                email_keys(&subject).subject_tag,
                Some(NumberMention::Valid(n.clone())),
                "{subject}"
            );
        }
        assert_eq!(email_keys("no tag here [1234567]").subject_tag, None);
    }

    #[test]
    fn a_mistyped_tag_is_kept_as_mistyped() {
        let keys = email_keys(&format!("Re: [#{}] x", number().mistyped()));
        assert!(matches!(
            keys.subject_tag,
            Some(NumberMention::Mistyped { .. })
        ));
        assert_eq!(keys.named_number(), None);
    }

    #[test]
    fn message_ids_are_tried_in_reply_to_first_then_newest_reference() {
        let keys = ThreadKeys::extract(
            Channel::Email,
            None,
            "",
            &["<c@x>".into()],
            &["<a@x>".into(), " b@x ".into(), "<c@x>".into()],
        );
        assert_eq!(keys.message_ids, vec!["<c@x>", "<b@x>", "<a@x>"]);
    }

    #[test]
    fn sms_numbers_at_the_start_are_found() {
        let n = number();
        for text in [
            format!("{n} still no connection"),
            format!("#{n} still"),
            format!("  {} اینترنت هنوز قطع است", to_persian_digits(n.as_str())),
            to_arabic_indic_digits(n.as_str()),
        ] {
            assert_eq!(
                find_sms_number(&text),
                Some(NumberMention::Valid(n.clone())),
                "{text}"
            );
        }
        assert_eq!(find_sms_number(&format!("hello {n}")), None);
        let long = TicketNumber::random_long(&mut rand::rng());
        assert_eq!(
            find_sms_number(&format!("{} قطع است", to_persian_digits(long.as_str()))),
            Some(NumberMention::Valid(long.clone()))
        );
        assert_eq!(
            find_sms_number("09121234567 salam"),
            None,
            "a phone number is no ticket"
        );
        assert!(matches!(
            find_sms_number(&format!("{} hi", n.mistyped())),
            Some(NumberMention::Mistyped { .. })
        ));
    }

    #[test]
    fn a_known_message_id_wins() {
        let candidates = ThreadCandidates {
            by_message_id: Some(ticket(7, TicketStatus::Answered, 1)),
            ..Default::default()
        };
        let decision = decide(
            Channel::Email,
            &email_keys("x"),
            &candidates,
            Some(99),
            now(),
            &ThreadPolicy::default(),
        );
        assert_eq!(
            decision,
            ThreadDecision::Reply {
                ticket_id: 10,
                via: ThreadVia::MessageId,
                new_status: Some(TicketStatus::Open)
            }
        );
    }

    #[test]
    fn a_tag_threads_only_for_the_ticket_owner() {
        let keys = email_keys(&format!("Re: [#{}] x", number()));
        let candidates = ThreadCandidates {
            by_number: Some(ticket(7, TicketStatus::Open, 1)),
            ..Default::default()
        };
        assert_eq!(
            decide(
                Channel::Email,
                &keys,
                &candidates,
                Some(7),
                now(),
                &ThreadPolicy::default()
            ),
            ThreadDecision::Reply {
                ticket_id: 10,
                via: ThreadVia::SubjectTag,
                new_status: None
            }
        );
        let other = decide(
            Channel::Email,
            &keys,
            &candidates,
            Some(8),
            now(),
            &ThreadPolicy::default(),
        );
        assert!(
            matches!(other, ThreadDecision::NewTicket { follows_ticket_id: None, noted_reference: Some(ref r) } if r.contains("another customer"))
        );
        let stranger = decide(
            Channel::Email,
            &keys,
            &candidates,
            None,
            now(),
            &ThreadPolicy::default(),
        );
        assert!(matches!(stranger, ThreadDecision::NewTicket { .. }));
    }

    #[test]
    fn a_closed_ticket_reopens_inside_the_window_and_is_followed_up_after_it() {
        let keys = email_keys(&format!("Re: [#{}] x", number()));
        let inside = ThreadCandidates {
            by_number: Some(ticket(7, TicketStatus::Closed, 13)),
            ..Default::default()
        };
        assert_eq!(
            decide(
                Channel::Email,
                &keys,
                &inside,
                Some(7),
                now(),
                &ThreadPolicy::default()
            ),
            ThreadDecision::Reply {
                ticket_id: 10,
                via: ThreadVia::SubjectTag,
                new_status: Some(TicketStatus::Open)
            }
        );
        let outside = ThreadCandidates {
            by_number: Some(ticket(7, TicketStatus::Closed, 15)),
            ..Default::default()
        };
        assert_eq!(
            decide(
                Channel::Email,
                &keys,
                &outside,
                Some(7),
                now(),
                &ThreadPolicy::default()
            ),
            ThreadDecision::NewTicket {
                follows_ticket_id: Some(10),
                noted_reference: None
            }
        );
    }

    #[test]
    fn sms_falls_back_to_the_newest_open_ticket_inside_the_window() {
        let keys = ThreadKeys::extract(Channel::Sms, None, "still broken", &[], &[]);
        let recent = ThreadCandidates {
            newest_open_of_sender: Some(ticket(7, TicketStatus::Answered, 6)),
            ..Default::default()
        };
        assert_eq!(
            decide(
                Channel::Sms,
                &keys,
                &recent,
                Some(7),
                now(),
                &ThreadPolicy::default()
            ),
            ThreadDecision::Reply {
                ticket_id: 10,
                via: ThreadVia::RecentSmsTicket,
                new_status: Some(TicketStatus::Open)
            }
        );
        let stale = ThreadCandidates {
            newest_open_of_sender: Some(ticket(7, TicketStatus::Open, 8)),
            ..Default::default()
        };
        assert!(matches!(
            decide(
                Channel::Sms,
                &keys,
                &stale,
                Some(7),
                now(),
                &ThreadPolicy::default()
            ),
            ThreadDecision::NewTicket { .. }
        ));
        // Email never uses the recent-ticket rule.
        assert!(matches!(
            decide(
                Channel::Email,
                &email_keys("x"),
                &recent,
                Some(7),
                now(),
                &ThreadPolicy::default()
            ),
            ThreadDecision::NewTicket { .. }
        ));
    }

    #[test]
    fn an_sms_with_a_mistyped_number_opens_a_new_ticket_that_notes_it() {
        let keys = ThreadKeys::extract(
            Channel::Sms,
            None,
            &format!("{} help", number().mistyped()),
            &[],
            &[],
        );
        let candidates = ThreadCandidates {
            newest_open_of_sender: None,
            ..Default::default()
        };
        let decision = decide(
            Channel::Sms,
            &keys,
            &candidates,
            Some(7),
            now(),
            &ThreadPolicy::default(),
        );
        assert!(
            matches!(decision, ThreadDecision::NewTicket { noted_reference: Some(ref r), .. } if r.contains("not a valid number"))
        );
    }

    #[test]
    fn subjects_lose_prefixes_and_tags() {
        assert_eq!(
            clean_subject("Re: Fwd: [#1234567] Invoice question"),
            "Invoice question"
        );
        assert_eq!(
            clean_subject("پاسخ: [#۱۲۳۴۵۶۷] قطعی اینترنت"),
            "قطعی اینترنت"
        );
        assert_eq!(clean_subject("Meeting: Monday"), "Meeting: Monday");
        assert_eq!(
            subject_from_text("my internet has been down since this morning", 20),
            "my internet has been"
        );
    }
}
