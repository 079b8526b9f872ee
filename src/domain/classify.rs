//! Is this inbound message a person writing to support, or something a ticket must not be made
//! of (an auto-reply, a list post, Peyk's own mail, a bounce)? Decided before threading.

use std::sync::LazyLock;

use regex::Regex;

use super::contact::EmailAddress;
use super::message::{AutomationSignals, DeliveryStatus};

/// Why a message is not ticketed; the spellings are the contract's receipt reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    AutoReply,
    List,
    OwnAddress,
    Empty,
    Held,
}

impl IgnoreReason {
    pub fn as_str(self) -> &'static str {
        match self {
            IgnoreReason::AutoReply => "autoreply",
            IgnoreReason::List => "list",
            IgnoreReason::OwnAddress => "own_address",
            IgnoreReason::Empty => "empty",
            IgnoreReason::Held => "held",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Classification {
    /// A person: thread it.
    Person,
    Ignore(IgnoreReason),
    Bounce(DeliveryStatus),
}

static AUTO_REPLY_SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*(automatic reply|auto(matic)?[ -]?(reply|response)|autoreply|auto:|out of (the )?office|abwesenheitsnotiz|r[ée]ponse automatique|پاسخ خودکار|پاسخ اتوماتیک)|\bout of (the )?office\b",
    )
    .expect("the auto-reply subject pattern is a valid regex")
});

/// The facts classification looks at.
pub struct ClassifyInput<'a> {
    pub sender: Option<&'a EmailAddress>,
    pub subject: Option<&'a str>,
    pub signals: &'a AutomationSignals,
    pub own_addresses: &'a [EmailAddress],
}

/// Own address first (never ticket Peyk's own mail), then bounces, then auto-replies, then lists.
pub fn classify(input: &ClassifyInput<'_>) -> Classification {
    let signals = input.signals;
    if let Some(sender) = input.sender
        && input.own_addresses.iter().any(|own| own == sender)
    {
        return Classification::Ignore(IgnoreReason::OwnAddress);
    }
    if is_bounce(input.sender, signals) {
        return Classification::Bounce(signals.delivery_status.clone().unwrap_or_default());
    }
    if is_auto_reply(input.subject, signals) {
        return Classification::Ignore(IgnoreReason::AutoReply);
    }
    if signals.list_id.is_some() || precedence_is(signals, &["list"]) {
        return Classification::Ignore(IgnoreReason::List);
    }
    Classification::Person
}

fn precedence_is(signals: &AutomationSignals, values: &[&str]) -> bool {
    signals
        .precedence
        .as_deref()
        .map(|p| p.trim().to_ascii_lowercase())
        .is_some_and(|p| values.contains(&p.as_str()))
}

fn is_bounce(sender: Option<&EmailAddress>, signals: &AutomationSignals) -> bool {
    if signals.report_type.as_deref() == Some("delivery-status") {
        return true;
    }
    let from_mailer = signals.from_mailer_daemon
        || sender.is_some_and(|s| {
            let local = s.local_part().to_ascii_lowercase();
            local == "mailer-daemon" || local == "postmaster"
        });
    from_mailer
        && (signals.delivery_status.is_some()
            || signals.auto_submitted.is_some()
            || signals.report_type.is_none())
}

fn is_auto_reply(subject: Option<&str>, signals: &AutomationSignals) -> bool {
    let auto_submitted = signals
        .auto_submitted
        .as_deref()
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|v| !v.is_empty() && v != "no");
    auto_submitted
        || signals.x_autoreply
        || signals.x_autorespond
        || signals.x_auto_response_suppress
        || precedence_is(signals, &["auto_reply", "bulk", "junk"])
        || matches!(
            signals.report_type.as_deref(),
            Some("disposition-notification" | "feedback-report")
        )
        || subject.is_some_and(|s| AUTO_REPLY_SUBJECT.is_match(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(s: &str) -> EmailAddress {
        EmailAddress::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn run(sender: &str, subject: &str, signals: AutomationSignals) -> Classification {
        let sender = email(sender);
        let own = [
            email("support@peyk.example"),
            email("no-reply@peyk.example"),
        ];
        classify(&ClassifyInput {
            sender: Some(&sender),
            subject: Some(subject),
            signals: &signals,
            own_addresses: &own,
        })
    }

    #[test]
    fn a_plain_message_is_a_person() {
        assert_eq!(
            run(
                "ali@example.ir",
                "Internet down",
                AutomationSignals::default()
            ),
            Classification::Person
        );
    }

    #[test]
    fn own_addresses_are_ignored_case_insensitively() {
        assert_eq!(
            run(
                "No-Reply@Peyk.Example",
                "[#1234567] Ticket received",
                AutomationSignals::default()
            ),
            Classification::Ignore(IgnoreReason::OwnAddress)
        );
    }

    #[test]
    fn auto_submitted_other_than_no_is_an_auto_reply() {
        let signals = AutomationSignals {
            auto_submitted: Some("auto-replied".into()),
            ..Default::default()
        };
        assert_eq!(
            run("a@b.c", "Re: hi", signals),
            Classification::Ignore(IgnoreReason::AutoReply)
        );
        let signals = AutomationSignals {
            auto_submitted: Some("No".into()),
            ..Default::default()
        };
        assert_eq!(run("a@b.c", "Re: hi", signals), Classification::Person);
    }

    #[test]
    fn auto_reply_headers_and_subjects_are_recognized() {
        for signals in [
            AutomationSignals {
                x_autoreply: true,
                ..Default::default()
            },
            AutomationSignals {
                x_autorespond: true,
                ..Default::default()
            },
            AutomationSignals {
                x_auto_response_suppress: true,
                ..Default::default()
            },
            AutomationSignals {
                precedence: Some("bulk".into()),
                ..Default::default()
            },
            AutomationSignals {
                precedence: Some("auto_reply".into()),
                ..Default::default()
            },
        ] {
            assert_eq!(
                run("a@b.c", "hello", signals),
                Classification::Ignore(IgnoreReason::AutoReply)
            );
        }
        for subject in [
            "Automatic reply: Invoice",
            "Out of Office: back Monday",
            "پاسخ خودکار: مرخصی",
            "Auto: away",
        ] {
            assert_eq!(
                run("a@b.c", subject, AutomationSignals::default()),
                Classification::Ignore(IgnoreReason::AutoReply),
                "{subject}"
            );
        }
    }

    #[test]
    fn list_mail_is_recognized() {
        let signals = AutomationSignals {
            list_id: Some("<dev.lists.example.org>".into()),
            ..Default::default()
        };
        assert_eq!(
            run("a@b.c", "[dev] release", signals),
            Classification::Ignore(IgnoreReason::List)
        );
    }

    #[test]
    fn delivery_reports_and_mailer_daemons_are_bounces() {
        let status = DeliveryStatus {
            recipient: Some("gone@example.com".into()),
            status: Some("5.1.1".into()),
            action: Some("failed".into()),
        };
        let signals = AutomationSignals {
            report_type: Some("delivery-status".into()),
            delivery_status: Some(status.clone()),
            ..Default::default()
        };
        assert_eq!(
            run("mailer-daemon@mx.example.com", "Undelivered Mail", signals),
            Classification::Bounce(status)
        );
        assert!(matches!(
            run(
                "MAILER-DAEMON@mx.example.com",
                "failure notice",
                AutomationSignals::default()
            ),
            Classification::Bounce(_)
        ));
        let unusable_from = AutomationSignals {
            from_mailer_daemon: true,
            ..Default::default()
        };
        let decided = classify(&ClassifyInput {
            sender: None,
            subject: Some("failure"),
            signals: &unusable_from,
            own_addresses: &[],
        });
        assert!(matches!(decided, Classification::Bounce(_)));
    }
}
