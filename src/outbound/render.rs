//! askama templates → the subject, text, HTML and SMS text of each notification, in the
//! customer's language. Called when a notification is enqueued.

use askama::Template;

use super::segments;
use crate::domain::digits::to_persian_digits;
use crate::domain::ticket::Language;

/// What a notification says, on every channel.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedNotification {
    pub email_subject: String,
    pub email_text: String,
    pub email_html: String,
    pub sms_text: String,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot render the {kind} notification: {source}")]
pub struct RenderError {
    kind: &'static str,
    source: askama::Error,
}

macro_rules! ticket_template {
    ($name:ident, $path:literal) => {
        #[derive(Template)]
        #[template(path = $path)]
        #[allow(dead_code)] // every template gets the same fields; each uses some of them
        struct $name<'a> {
            number: &'a str,
            number_fa: &'a str,
            subject: &'a str,
            customer_name: Option<&'a str>,
        }
    };
}

ticket_template!(ReceivedTextEn, "notify/ticket_received_en.txt");
ticket_template!(ReceivedTextFa, "notify/ticket_received_fa.txt");
ticket_template!(ReceivedHtmlEn, "notify/ticket_received_en.html");
ticket_template!(ReceivedHtmlFa, "notify/ticket_received_fa.html");
ticket_template!(ReceivedSmsEn, "notify/ticket_received_sms_en.txt");
ticket_template!(ReceivedSmsFa, "notify/ticket_received_sms_fa.txt");

ticket_template!(ClosedTextEn, "notify/ticket_closed_en.txt");
ticket_template!(ClosedTextFa, "notify/ticket_closed_fa.txt");
ticket_template!(ClosedHtmlEn, "notify/ticket_closed_en.html");
ticket_template!(ClosedHtmlFa, "notify/ticket_closed_fa.html");
ticket_template!(ClosedSmsEn, "notify/ticket_closed_sms_en.txt");
ticket_template!(ClosedSmsFa, "notify/ticket_closed_sms_fa.txt");

macro_rules! reply_template {
    ($name:ident, $path:literal) => {
        #[derive(Template)]
        #[template(path = $path)]
        #[allow(dead_code)] // every template gets the same fields; each uses some of them
        struct $name<'a> {
            number: &'a str,
            number_fa: &'a str,
            subject: &'a str,
            customer_name: Option<&'a str>,
            agent_name: Option<&'a str>,
            body: &'a str,
            paragraphs: &'a [&'a str],
        }
    };
}

reply_template!(ReplyTextEn, "notify/agent_reply_en.txt");
reply_template!(ReplyTextFa, "notify/agent_reply_fa.txt");
reply_template!(ReplyHtmlEn, "notify/agent_reply_en.html");
reply_template!(ReplyHtmlFa, "notify/agent_reply_fa.html");
reply_template!(ReplySmsEn, "notify/agent_reply_sms_en.txt");
reply_template!(ReplySmsFa, "notify/agent_reply_sms_fa.txt");

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationKind {
    TicketReceived,
    AgentReply,
    TicketClosed,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::TicketReceived => "ticket_received",
            NotificationKind::AgentReply => "agent_reply",
            NotificationKind::TicketClosed => "ticket_closed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            NotificationKind::TicketReceived,
            NotificationKind::AgentReply,
            NotificationKind::TicketClosed,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }

    /// Sent by Peyk on its own (acknowledgements, closings), as opposed to written by an agent.
    pub fn is_automatic(self) -> bool {
        self != NotificationKind::AgentReply
    }
}

/// Everything a notification can mention.
#[derive(Debug, Clone, Copy)]
pub struct NotificationContext<'a> {
    pub language: Language,
    pub number: &'a str,
    pub subject: &'a str,
    pub customer_name: Option<&'a str>,
    /// Agent replies: the agent's name and the text of the reply.
    pub agent_name: Option<&'a str>,
    pub body: &'a str,
    /// SMS texts are shortened to fit this many segments.
    pub max_segments: usize,
}

/// Renders a notification of any kind.
pub fn notification(
    kind: NotificationKind,
    ctx: &NotificationContext<'_>,
) -> Result<RenderedNotification, RenderError> {
    match kind {
        NotificationKind::TicketReceived => {
            ticket_received(ctx.language, ctx.number, ctx.subject, ctx.customer_name)
        }
        NotificationKind::AgentReply => agent_reply(ctx),
        NotificationKind::TicketClosed => ticket_closed(ctx),
    }
}

/// An agent's answer, sent to the customer.
pub fn agent_reply(ctx: &NotificationContext<'_>) -> Result<RenderedNotification, RenderError> {
    let number_fa = to_persian_digits(ctx.number);
    let err = |source| RenderError {
        kind: "agent_reply",
        source,
    };
    let body = ctx.body.trim();
    let paragraphs: Vec<&str> = body
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    macro_rules! render {
        ($t:ident, $body:expr) => {
            $t {
                number: ctx.number,
                number_fa: &number_fa,
                subject: ctx.subject,
                customer_name: ctx.customer_name,
                agent_name: ctx.agent_name,
                body: $body,
                paragraphs: &paragraphs,
            }
            .render()
        };
    }
    let sms = |text: &str| -> String {
        let rendered = match ctx.language {
            Language::En => render!(ReplySmsEn, text),
            Language::Fa => render!(ReplySmsFa, text),
        };
        rendered.map(|t| t.trim().to_string()).unwrap_or_default()
    };
    let (email_text, email_html) = match ctx.language {
        Language::En => (
            render!(ReplyTextEn, body).map_err(err)?,
            render!(ReplyHtmlEn, body).map_err(err)?,
        ),
        Language::Fa => (
            render!(ReplyTextFa, body).map_err(err)?,
            render!(ReplyHtmlFa, body).map_err(err)?,
        ),
    };
    let one_line = body.split_whitespace().collect::<Vec<_>>().join(" ");
    let sms_text = segments::fit(&one_line, ctx.max_segments, sms);
    if sms_text.is_empty() {
        return Err(RenderError {
            kind: "agent_reply",
            source: askama::Error::Custom("the SMS template rendered nothing".into()),
        });
    }
    Ok(RenderedNotification {
        email_subject: format!("[#{}] {}", ctx.number, ctx.subject),
        email_text,
        email_html,
        sms_text,
    })
}

/// The notice that a ticket was closed.
pub fn ticket_closed(ctx: &NotificationContext<'_>) -> Result<RenderedNotification, RenderError> {
    let number_fa = to_persian_digits(ctx.number);
    let err = |source| RenderError {
        kind: "ticket_closed",
        source,
    };
    macro_rules! render {
        ($t:ident, $subject:expr) => {
            $t {
                number: ctx.number,
                number_fa: &number_fa,
                subject: $subject,
                customer_name: ctx.customer_name,
            }
            .render()
        };
    }
    let (email_text, email_html) = match ctx.language {
        Language::En => (
            render!(ClosedTextEn, ctx.subject).map_err(err)?,
            render!(ClosedHtmlEn, ctx.subject).map_err(err)?,
        ),
        Language::Fa => (
            render!(ClosedTextFa, ctx.subject).map_err(err)?,
            render!(ClosedHtmlFa, ctx.subject).map_err(err)?,
        ),
    };
    let sms = |subject: &str| -> String {
        let rendered = match ctx.language {
            Language::En => render!(ClosedSmsEn, subject),
            Language::Fa => render!(ClosedSmsFa, subject),
        };
        rendered.map(|t| t.trim().to_string()).unwrap_or_default()
    };
    let sms_text = segments::fit(ctx.subject, ctx.max_segments, sms);
    if sms_text.is_empty() {
        return Err(RenderError {
            kind: "ticket_closed",
            source: askama::Error::Custom("the SMS template rendered nothing".into()),
        });
    }
    Ok(RenderedNotification {
        email_subject: format!("[#{}] {}", ctx.number, ctx.subject),
        email_text,
        email_html,
        sms_text,
    })
}

/// The acknowledgement of a new ticket.
pub fn ticket_received(
    language: Language,
    number: &str,
    subject: &str,
    customer_name: Option<&str>,
) -> Result<RenderedNotification, RenderError> {
    let number_fa = to_persian_digits(number);
    let err = |source| RenderError {
        kind: "ticket_received",
        source,
    };
    macro_rules! render {
        ($t:ident) => {
            $t {
                number,
                number_fa: &number_fa,
                subject,
                customer_name,
            }
            .render()
            .map_err(err)?
        };
    }
    let (email_text, email_html, sms_text) = match language {
        Language::En => (
            render!(ReceivedTextEn),
            render!(ReceivedHtmlEn),
            render!(ReceivedSmsEn),
        ),
        Language::Fa => (
            render!(ReceivedTextFa),
            render!(ReceivedHtmlFa),
            render!(ReceivedSmsFa),
        ),
    };
    Ok(RenderedNotification {
        email_subject: format!("[#{number}] {subject}"),
        email_text,
        email_html,
        sms_text: sms_text.trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(language: Language, subject: &'a str, body: &'a str) -> NotificationContext<'a> {
        NotificationContext {
            language,
            number: "5193078",
            subject,
            customer_name: Some("Sara"),
            agent_name: Some("Reza"),
            body,
            max_segments: 2,
        }
    }

    #[test]
    fn agent_reply_carries_the_body_and_a_fitted_sms() {
        let long = "Please restart the modem and wait two minutes. ".repeat(20);
        let n = agent_reply(&ctx(Language::En, "Internet down", &long)).unwrap();
        assert_eq!(n.email_subject, "[#5193078] Internet down");
        assert!(n.email_text.contains("Please restart the modem"));
        assert!(n.email_html.contains("<p>Please restart"));
        assert!(n.sms_text.starts_with("Ticket #5193078: Please restart"));
        assert!(segments::count(&n.sms_text).segments <= 2);
        let fa = agent_reply(&ctx(
            Language::Fa,
            "قطعی",
            &"لطفاً مودم را خاموش و روشن کنید. ".repeat(20),
        ))
        .unwrap();
        assert!(fa.sms_text.contains("۵۱۹۳۰۷۸"));
        assert_eq!(segments::count(&fa.sms_text).segments, 2);
        assert!(fa.email_html.contains("dir=\"rtl\""));
    }

    #[test]
    fn ticket_closed_shortens_the_subject_in_sms() {
        let subject = "A very long subject line about an outage ".repeat(10);
        let n = ticket_closed(&NotificationContext {
            max_segments: 1,
            ..ctx(Language::En, &subject, "")
        })
        .unwrap();
        assert!(n.email_text.contains("has been closed"));
        assert!(n.sms_text.contains("#5193078"));
        assert!(
            n.sms_text
                .ends_with("Reply starting with 5193078 to reopen it.")
        );
        assert_eq!(segments::count(&n.sms_text).segments, 1);
        let fa = ticket_closed(&ctx(Language::Fa, "قطعی اینترنت", "")).unwrap();
        assert!(fa.sms_text.contains("قطعی اینترنت"));
        assert!(fa.email_text.contains("بسته شد"));
    }

    #[test]
    fn persian_acknowledgement_is_right_to_left_and_carries_the_number() {
        let n = ticket_received(Language::Fa, "5193078", "قطعی اینترنت", Some("علی"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n.email_subject, "[#5193078] قطعی اینترنت");
        assert!(n.email_text.contains("۵۱۹۳۰۷۸"));
        assert!(n.email_text.contains("[#5193078]"));
        assert!(n.email_html.contains("dir=\"rtl\""));
        assert!(n.sms_text.contains("۵۱۹۳۰۷۸"));
    }

    #[test]
    fn english_acknowledgement_escapes_html() {
        let n = ticket_received(Language::En, "5193078", "<b>Down</b>", None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            n.email_html.contains("&#60;b&#62;Down") || n.email_html.contains("&lt;b&gt;Down"),
            "{}",
            n.email_html
        );
        assert!(n.email_text.contains("<b>Down</b>"));
        assert!(n.email_text.starts_with("Hello,"));
    }
}
