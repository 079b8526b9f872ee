//! Ticket vocabulary: statuses, priorities, channels, directions, languages, and which status a
//! ticket takes when a customer writes again.

use serde::{Deserialize, Serialize};

/// Declares a string-backed enum with `as_str`, `parse` and `Display`: the spellings are the
/// contract's and the database's.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// Where a ticket stands: waiting for an agent, being worked on, waiting for the customer, done.
    TicketStatus { Open => "open", InProgress => "in_progress", Answered => "answered", Closed => "closed" }
}

string_enum! {
    Priority { Low => "low", Normal => "normal", High => "high", Urgent => "urgent" }
}

string_enum! {
    /// The way a message came in or goes out.
    Channel { Email => "email", Sms => "sms", Web => "web" }
}

string_enum! {
    /// Inbound from the customer, outbound to the customer, or an internal note no customer sees.
    Direction { Inbound => "inbound", Outbound => "outbound", Note => "note" }
}

string_enum! {
    /// Languages Peyk writes notifications and pages in.
    Language { Fa => "fa", En => "en" }
}

string_enum! {
    /// What happened to one item in a ticket's history.
    TicketEventKind {
        Created => "created",
        Status => "status",
        Priority => "priority",
        Department => "department",
        Assignment => "assignment",
        Reopened => "reopened",
        Linked => "linked",
    }
}

impl Language {
    /// Persian when the text has Arabic-script letters, English otherwise.
    pub fn detect(text: &str) -> Language {
        let arabic_script = text
            .chars()
            .filter(|c| matches!(*c as u32, 0x0600..=0x06FF | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF))
            .filter(|c| c.is_alphabetic())
            .count();
        if arabic_script >= 2 {
            Language::Fa
        } else {
            Language::En
        }
    }
}

impl TicketStatus {
    /// The status a ticket takes when its customer writes into it; `None` keeps the current one.
    /// A customer reply to an answered or (reopened) closed ticket makes it open again.
    pub fn after_customer_reply(self) -> Option<TicketStatus> {
        match self {
            TicketStatus::Answered | TicketStatus::Closed => Some(TicketStatus::Open),
            TicketStatus::Open | TicketStatus::InProgress => None,
        }
    }

    /// True while the customer is waiting for an agent.
    pub fn is_waiting_for_agent(self) -> bool {
        matches!(self, TicketStatus::Open | TicketStatus::InProgress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for status in TicketStatus::ALL {
            assert_eq!(TicketStatus::parse(status.as_str()), Some(*status));
        }
        assert_eq!(TicketStatus::InProgress.as_str(), "in_progress");
        assert_eq!(
            serde_json::to_string(&TicketStatus::InProgress)
                .ok()
                .as_deref(),
            Some("\"in_progress\"")
        );
        assert_eq!(Priority::parse("urgent"), Some(Priority::Urgent));
        assert_eq!(Priority::parse("URGENT"), None);
    }

    #[test]
    fn customer_reply_reopens_answered_and_closed_but_keeps_work_in_progress() {
        assert_eq!(
            TicketStatus::Answered.after_customer_reply(),
            Some(TicketStatus::Open)
        );
        assert_eq!(
            TicketStatus::Closed.after_customer_reply(),
            Some(TicketStatus::Open)
        );
        assert_eq!(TicketStatus::Open.after_customer_reply(), None);
        assert_eq!(TicketStatus::InProgress.after_customer_reply(), None);
    }

    #[test]
    fn persian_text_is_detected() {
        assert_eq!(Language::detect("سلام، اینترنت من قطع است"), Language::Fa);
        assert_eq!(Language::detect("Hello, my internet is down"), Language::En);
        assert_eq!(Language::detect(""), Language::En);
    }
}
