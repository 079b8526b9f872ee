//! askama templates → the subject, text, HTML and SMS text of each notification, in the
//! customer's language. Called when a notification is enqueued.

use askama::Template;

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
