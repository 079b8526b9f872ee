//! What did the customer newly write? Mail clients put the message being answered under the
//! reply; [`strip_quoted_reply`] separates the two so a ticket shows the new text first.
//!
//! Recognized, in this order (the first place that qualifies is where the quote starts):
//!
//! 1. Quote headers on an unquoted line:
//!    - attributions "On <date>, <name> wrote:" (Gmail, Apple Mail, Thunderbird, Outlook for
//!      Mac, Yahoo's "--- On ..."), also wrapped over up to three lines; the Persian Gmail form
//!      "در تاریخ <date> <name> نوشت:" with Persian digits and the bidi marks Gmail inserts; the
//!      French, German, Spanish, Italian, Dutch and Portuguese forms;
//!    - "-----Original Message-----" (any number of dashes, spaces inside) and its translations;
//!    - an Outlook header block: From / Sent (or Date) / To or Subject fields on consecutive
//!      lines, English or Persian ("از:", "فرستنده:", "ارسال شده:", "تاریخ:", "به:",
//!      "موضوع:") and a few other languages, with a "_____" separator above it included.
//! 2. Otherwise a block of ">"-quoted lines at the end, with an attribution line just above it
//!    when that line ends with ":" and names an address, a date or a time.
//!
//! Never removed: everything (when no new text would be left, the text comes back unchanged);
//! a quote followed by new unquoted text (interleaved or bottom-posted replies keep the whole
//! text); a forwarded message ("Forwarded message", an Outlook block whose subject is "FW:");
//! signatures ("-- ") above the quote.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

/// A reply split into what the customer newly wrote and what was quoted under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrippedReply {
    /// The new text, trimmed; the whole input, unchanged, when `quoted` is `None`.
    pub reply: String,
    /// The removed remainder (trimmed), or `None` when nothing was removed.
    pub quoted: Option<String>,
}

/// Splits `text` (a message's plain text) into the new reply and the quoted previous message.
pub fn strip_quoted_reply(text: &str) -> StrippedReply {
    let lines = split_lines(text);
    let cut = header_cut(&lines).or_else(|| trailing_quote_cut(&lines));
    if let Some(offset) = cut {
        let reply = trim_reply(&text[..offset]);
        let quoted = text[offset..].trim();
        if has_content(reply) && has_content(quoted) {
            return StrippedReply {
                reply: reply.to_string(),
                quoted: Some(quoted.to_string()),
            };
        }
    }
    StrippedReply {
        reply: text.to_string(),
        quoted: None,
    }
}

/// Attribution lines: the language's opening word, anything (a date, a name, an address), and
/// its "wrote".
static ATTRIBUTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^-*\s*(?:
            on\s.+\swrote\s*:
          | le\s.+\sa\s+[ée]crit\s*:
          | am\s.+\sschrieb\s.+:
          | el\s.+\sescribi[óo]\s*:
          | il\s.+\sha\s+scritto\s*:
          | op\s.+\sschreef\s.+:
          | em\s.+\sescreveu\s*:
          | در\s.+نوشت(?:ه(?:\s*است)?)?\s*:
        )$",
    )
    .expect("the attribution pattern is a valid regex")
});

/// How an attribution line starts; a wrapped attribution is joined only from such a line.
static ATTRIBUTION_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^-*\s*(?:on|le|am|el|il|op|em|در)\s")
        .expect("the attribution start pattern is a valid regex")
});

/// A date (30.11.2026, 11/30/26, ۱۴۰۵/۰۹/۱۰) or a time (10:00, ۱۰:۰۰), in any digits.
static DATE_OR_TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\d{1,2}:\d{2}|\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")
        .expect("the date pattern is a valid regex")
});

/// A year (2026, ۱۴۰۵) or any four digits.
static FOUR_DIGITS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\d{4}").expect("the year pattern is a valid regex"));

static ORIGINAL_MESSAGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^-{2,}\s*(?:original message|ursprüngliche nachricht|message d'origine|mensaje original|messaggio originale|oorspronkelijk bericht|پیام اصلی|پیغام اصلی)\s*-{2,}$",
    )
    .expect("the original-message pattern is a valid regex")
});

static FORWARD_MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)forwarded message|begin forwarded message|weitergeleitete nachricht|message transféré|mensaje reenviado|messaggio inoltrato|پیام\s*(?:هدایت|ارسال|باز\s*ارسال|بازارسال)\s*شده|پیام\s*فوروارد|فوروارد\s*شده",
    )
    .expect("the forward marker pattern is a valid regex")
});

static FORWARD_SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(?:fw|fwd|wg|tr|rv|ارسال\s*مجدد|باز\s*ارسال|فوروارد)\s*[:：]")
        .expect("the forward subject pattern is a valid regex")
});

/// `Name: value` with the name optionally in `*bold*` (as HTML-to-text conversions write it).
static FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\*{0,2}([^:：*>]{1,24}?)\*{0,2}\s*[:：]\*{0,2}\s*(.*)$")
        .expect("the header field pattern is a valid regex")
});

/// A horizontal rule: Outlook's underscores, or dashes.
static SEPARATOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:_{8,}|-{8,})$").expect("the separator pattern is a valid regex")
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Field {
    From,
    Sent,
    Date,
    To,
    Cc,
    Subject,
}

fn field_role(name: &str) -> Option<Field> {
    let name = name.trim().to_lowercase();
    let role = match name.as_str() {
        "from" | "از" | "فرستنده" | "de" | "von" | "van" => Field::From,
        "sent"
        | "ارسال شده"
        | "ارسال شد"
        | "ارسال"
        | "زمان ارسال"
        | "envoyé"
        | "gesendet"
        | "enviado"
        | "inviato"
        | "verzonden" => Field::Sent,
        "date" | "تاریخ" | "datum" | "fecha" | "data" => Field::Date,
        "to" | "به" | "گیرنده" | "à" | "an" | "para" | "a" | "aan" => Field::To,
        "cc" | "رونوشت" | "کپی" => Field::Cc,
        "subject" | "موضوع" | "objet" | "betreff" | "asunto" | "oggetto" | "onderwerp"
        | "assunto" => Field::Subject,
        _ => return None,
    };
    Some(role)
}

/// One line of the text: where it starts, and its text without the bidi marks and no-break
/// spaces that clients sprinkle over quote headers, trimmed.
struct Line {
    start: usize,
    norm: String,
}

impl Line {
    fn is_blank(&self) -> bool {
        self.norm.is_empty()
    }

    fn is_quoted(&self) -> bool {
        self.norm.starts_with('>')
    }

    fn field(&self) -> Option<(Field, &str)> {
        if self.is_quoted() {
            return None;
        }
        let captures = FIELD.captures(&self.norm)?;
        let role = field_role(captures.get(1)?.as_str())?;
        Some((role, captures.get(2).map_or("", |m| m.as_str())))
    }
}

fn is_bidi_mark(c: char) -> bool {
    matches!(
        c,
        '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

fn normalize(line: &str) -> String {
    line.chars()
        .filter(|&c| !is_bidi_mark(c))
        .map(|c| if c == '\u{00A0}' { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

fn split_lines(text: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut start = 0;
    for piece in text.split_inclusive('\n') {
        let content = piece.trim_end_matches(['\n', '\r']);
        lines.push(Line {
            start,
            norm: normalize(content),
        });
        start += piece.len();
    }
    lines
}

fn has_content(text: &str) -> bool {
    text.chars().any(|c| !c.is_whitespace() && !is_bidi_mark(c))
}

fn trim_reply(text: &str) -> &str {
    text.trim_end_matches(|c: char| c.is_whitespace() || is_bidi_mark(c))
        .trim_start()
}

/// The byte offset of the first quote header whose quote can go, with new text above it.
fn header_cut(lines: &[Line]) -> Option<usize> {
    let first_content = lines.iter().position(|l| !l.is_blank())?;
    let interleaved_from = interleaved_suffixes(lines);
    for (i, line) in lines.iter().enumerate().skip(first_content + 1) {
        if line.is_blank() || line.is_quoted() {
            continue;
        }
        let header_len = if let Some(len) = attribution_at(lines, i) {
            len
        } else if ORIGINAL_MESSAGE.is_match(&line.norm) || outlook_block_at(lines, i) {
            1
        } else {
            continue;
        };
        if interleaved_from[i + header_len] {
            continue;
        }
        let start = include_separator_above(lines, i);
        if first_content < start {
            return Some(lines[start].start);
        }
    }
    None
}

/// How many lines (1 to 3) the attribution starting at line `i` takes.
fn attribution_at(lines: &[Line], i: usize) -> Option<usize> {
    if !ATTRIBUTION_START.is_match(&lines[i].norm) {
        return None;
    }
    let mut joined = String::new();
    for (len, line) in lines[i..].iter().take(3).enumerate() {
        if line.is_blank() || joined.len() > 600 {
            return None;
        }
        if len > 0 {
            // A wrapped attribution continues a line that did not end a sentence.
            if line.is_quoted() || joined.ends_with(['.', '!', '?', '؟', ':']) {
                return None;
            }
            joined.push(' ');
        }
        joined.push_str(&line.norm);
        if ATTRIBUTION.is_match(&joined)
            && (names_address_or_time(&joined) || FOUR_DIGITS.is_match(&joined))
        {
            return Some(len + 1);
        }
    }
    None
}

fn names_address_or_time(text: &str) -> bool {
    text.contains('@') || DATE_OR_TIME.is_match(text)
}

/// An Outlook-style header block starting at line `i`: From, Sent or Date, To or Subject.
fn outlook_block_at(lines: &[Line], i: usize) -> bool {
    if lines[i].field().is_none() || (i > 0 && lines[i - 1].field().is_some()) {
        return false;
    }
    let mut roles: HashSet<Field> = HashSet::new();
    let mut other_lines = 0;
    for line in lines[i..].iter().take(12) {
        if line.is_blank() || line.is_quoted() {
            break;
        }
        match line.field() {
            Some((Field::Subject, value)) if FORWARD_SUBJECT.is_match(value) => return false,
            Some((role, _)) => {
                roles.insert(role);
            }
            // A long To or Subject wraps onto the next line.
            None => {
                other_lines += 1;
                if other_lines > 3 {
                    break;
                }
            }
        }
    }
    let complete = roles.contains(&Field::From)
        && (roles.contains(&Field::Sent) || roles.contains(&Field::Date))
        && (roles.contains(&Field::To) || roles.contains(&Field::Subject) || {
            roles.contains(&Field::Cc)
        });
    complete && !forwarded_above(lines, i)
}

/// A "Forwarded message" line just above: the block is a forward, which is content.
fn forwarded_above(lines: &[Line], i: usize) -> bool {
    lines[..i]
        .iter()
        .rev()
        .filter(|l| !l.is_blank())
        .take(2)
        .any(|l| FORWARD_MARKER.is_match(&l.norm))
}

/// The separator or "Original Message" line just above line `i` (blank lines between
/// allowed), or `i`.
fn include_separator_above(lines: &[Line], i: usize) -> usize {
    let mut j = i;
    while j > 0 && lines[j - 1].is_blank() {
        j -= 1;
    }
    if j > 0
        && (SEPARATOR.is_match(&lines[j - 1].norm) || ORIGINAL_MESSAGE.is_match(&lines[j - 1].norm))
    {
        j - 1
    } else {
        i
    }
}

/// For each line index (and the end), whether the lines from there on are interleaved: a
/// quoted line followed later by unquoted text, someone answering between the quoted lines.
fn interleaved_suffixes(lines: &[Line]) -> Vec<bool> {
    let mut interleaved = vec![false; lines.len() + 1];
    let mut unquoted_after = false;
    for (i, line) in lines.iter().enumerate().rev() {
        interleaved[i] = interleaved[i + 1] || (line.is_quoted() && unquoted_after);
        if !line.is_blank() && !line.is_quoted() {
            unquoted_after = true;
        }
    }
    interleaved
}

/// The offset of a block of ">"-quoted lines that ends the text, with its attribution.
fn trailing_quote_cut(lines: &[Line]) -> Option<usize> {
    let mut first_quoted = None;
    for (i, line) in lines.iter().enumerate().rev() {
        if line.is_blank() {
            continue;
        }
        if !line.is_quoted() {
            break;
        }
        first_quoted = Some(i);
    }
    let first_quoted = first_quoted?;
    if lines[..first_quoted].iter().any(Line::is_quoted) {
        return None;
    }
    let start = attribution_above(lines, first_quoted).unwrap_or(first_quoted);
    lines[..start]
        .iter()
        .any(|l| !l.is_blank())
        .then(|| lines[start].start)
}

/// The first line of an attribution in any language just above line `quote`: lines ending
/// with ":" that name an address, a date or a time ("02.04.2012 14:20 X <x@y> написал:").
fn attribution_above(lines: &[Line], quote: usize) -> Option<usize> {
    let last = (0..quote).rev().find(|&k| !lines[k].is_blank())?;
    if !lines[last].norm.ends_with([':', '：']) {
        return None;
    }
    let mut first = last;
    while first > 0 && last - first < 2 && !lines[first - 1].is_blank() {
        let line = &lines[first].norm;
        let previous = &lines[first - 1].norm;
        let opens_address = match (line.find('>'), line.find('<')) {
            (Some(close), Some(open)) => close < open,
            (Some(_), None) => true,
            _ => false,
        };
        let wrapped = opens_address
            || previous.ends_with(['<', ',', '،'])
            || line.split_whitespace().count() <= 2;
        if !wrapped {
            break;
        }
        first -= 1;
    }
    let joined = lines[first..=last]
        .iter()
        .map(|l| l.norm.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    names_address_or_time(&joined).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(text: &str) -> StrippedReply {
        strip_quoted_reply(text)
    }

    /// Asserts the split and that both halves come from the text, in order.
    fn assert_split(text: &str, reply: &str, quoted_starts_with: &str) {
        let result = strip(text);
        assert_eq!(result.reply, reply, "reply of {text:?}");
        let quoted = result
            .quoted
            .unwrap_or_else(|| panic!("something quoted in {text:?}"));
        assert!(
            quoted.starts_with(quoted_starts_with),
            "quoted part of {text:?} starts with {quoted_starts_with:?}: {quoted:?}"
        );
        let reply_at = text.find(reply).unwrap_or_else(|| panic!("reply in text"));
        let quoted_at = text
            .find(&quoted)
            .unwrap_or_else(|| panic!("quote in text"));
        assert!(reply_at + reply.len() <= quoted_at);
    }

    fn assert_unchanged(text: &str) {
        let result = strip(text);
        assert_eq!(result.quoted, None, "nothing removed from {text:?}");
        assert_eq!(result.reply, text);
    }

    // --- The plain-text parts of mailgun-talon's standard_replies, as mail clients wrote them.

    #[test]
    fn gmail() {
        assert_split(
            "Hello\n\nOn Mon, Apr 2, 2012 at 6:26 PM, Megan One <xxx@gmail.com> wrote:\n\n> Hi\n",
            "Hello",
            "On Mon, Apr 2, 2012 at 6:26 PM",
        );
    }

    #[test]
    fn android_gmail_in_russian_is_an_attribution_above_a_quote() {
        assert_split(
            "Hello\n02.04.2012 14:20 пользователь \"bob@xxx.mailgun.org\" <\nbob@xxx.mailgun.org> написал:\n\n> Hi\n>\n\n",
            "Hello",
            "02.04.2012 14:20",
        );
    }

    #[test]
    fn aol_original_message() {
        assert_split(
            "Hello\n\n\n\n-----Original Message-----\nFrom: bob <bob@example.com>\nTo: xxx <xxx@gmail.com>; xxx <xxx@hotmail.com>\nSent: Mon, Apr 2, 2012 5:49 pm\nSubject: Test\n\n\nHi\n\n \n",
            "Hello",
            "-----Original Message-----",
        );
    }

    #[test]
    fn apple_mail() {
        assert_split(
            "Hello\n\nOn Apr 3, 2012, at 4:19 PM, bob wrote:\n\n> Hi\n",
            "Hello",
            "On Apr 3, 2012, at 4:19 PM, bob wrote:",
        );
    }

    #[test]
    fn apple_mail_with_the_attribution_inside_the_quote() {
        assert_split(
            "Hello\n> On 22 Aug 2015, at 19:21, Adam Renberg <tgwizard@gmail.com> wrote:\n>\n> Hi there!\n\n",
            "Hello",
            "> On 22 Aug 2015",
        );
    }

    #[test]
    fn comcast_zimbra_original_message_with_spaces() {
        assert_split(
            "Hello \n\n----- Original Message -----\nFrom: bob@xxx.mailgun.org \nTo: xxx@gmail.com, xxx@hotmail.com \nSent: Monday, April 2, 2012 5:44:22 PM \nSubject: Test \n\nHi \n",
            "Hello",
            "----- Original Message -----",
        );
    }

    #[test]
    fn hotmail_quoted_header_block() {
        assert_split(
            "\nHello\n\n> Subject: Test\n> From: bob@xxx.mailgun.org\n> To: xxx@gmail.com; xxx@hotmail.com\n> Date: Mon, 2 Apr 2012 17:44:22 +0400\n> \n> Hi\n \t\t \t   \t\t  ",
            "Hello",
            "> Subject: Test",
        );
    }

    #[test]
    fn iphone_keeps_its_sent_from_line() {
        assert_split(
            "Hello\n\nSent from my iPhone\n\nOn Apr 3, 2012, at 4:19 PM, bob <bob@example.com> wrote:\n\n> Hi\n",
            "Hello\n\nSent from my iPhone",
            "On Apr 3, 2012",
        );
    }

    #[test]
    fn outlook_header_block_without_separator() {
        assert_split(
            "Hello\n\nFrom: xxx@xxx.mailgun.org [mailto:xxx@xxx.mailgun.org]\nSent: March-09-12 4:22 PM\nTo: Dan Le\nSubject: The manager has commented on your Loop\n\nHi dan.le@example.com<mailto:dan.le@example.com>,\n\nThe manager's comment:\n\"Hello Allan! Did you ask for some MIME? \"\n",
            "Hello",
            "From: xxx@xxx.mailgun.org",
        );
    }

    #[test]
    fn sparrow_keeps_the_signature() {
        assert_split(
            "Hello \n\n-- \nxxx\nSent with Sparrow (http://www.sparrowmailapp.com/?sig)\n\n\nOn Tuesday, April 3, 2012 at 4:55 PM, xxx wrote:\n\n> Hello\n> \n> On Apr 3, 2012, at 4:19 PM, bob wrote:\n> \n> > Hi \n\n",
            "Hello \n\n-- \nxxx\nSent with Sparrow (http://www.sparrowmailapp.com/?sig)",
            "On Tuesday, April 3, 2012 at 4:55 PM, xxx wrote:",
        );
    }

    #[test]
    fn thunderbird_bottom_post_keeps_everything() {
        assert_unchanged("On 04/02/2012 06:26 PM, Megan One wrote:\n> Hi \nHello");
    }

    #[test]
    fn yahoo_original_message_with_an_empty_cc() {
        assert_split(
            "Hello\n\n\n----- Original Message -----\nFrom: \"bob@xxx.mailgun.org\" <bob@xxx.mailgun.org>\nTo: xxx@gmail.com; xxx@hotmail.com\nCc: \nSent: Monday, April 2, 2012 5:44 PM\nSubject: Test\n\nHi\n",
            "Hello",
            "----- Original Message -----",
        );
    }

    #[test]
    fn yahoo_share_block_with_dashes_before_on() {
        assert_split(
            "Hi Katharine.\u{a0} Sounds great.\n\u{a0}\nJoe XXX\n\n--- On Wed, 4/4/12, xxx@example.com <xxx@example.com> wrote:\n\n\nFrom: xxx@example.com <xxx@example.com>\nSubject: You've got a new booking inquiry!\nTo: xxx@yahoo.com\nDate: Wednesday, April 4, 2012, 10:23 PM\n\nNew Booking Inquiry\n\n",
            "Hi Katharine.\u{a0} Sounds great.\n\u{a0}\nJoe XXX",
            "--- On Wed, 4/4/12",
        );
    }

    // --- English quote headers as Peyk's customers send them.

    #[test]
    fn gmail_attribution_wrapped_over_two_lines() {
        assert_split(
            "Thanks, the router works again.\n\nOn Mon, 30 Nov 2026 at 10:00, Peyk Support <support@peyk.example>\nwrote:\n\n> Hello Ali,\n> please restart the router.\n",
            "Thanks, the router works again.",
            "On Mon, 30 Nov 2026 at 10:00, Peyk Support <support@peyk.example>\nwrote:",
        );
        assert_split(
            "Still broken.\n\nOn Mon, 30 Nov 2026 at 10:00, Peyk Support <\nsupport@peyk.example> wrote:\n> Hello\n",
            "Still broken.",
            "On Mon, 30 Nov 2026 at 10:00, Peyk Support <\n",
        );
    }

    #[test]
    fn gmail_attribution_without_quote_marks_as_html_to_text_writes_it() {
        assert_split(
            "Still no refund.\n\nOn Mon, 30 Nov 2026 at 10:00, Support <support@peyk.example> wrote:\n\nHello Sara,\nthe refund is on its way.\n",
            "Still no refund.",
            "On Mon, 30 Nov 2026",
        );
    }

    #[test]
    fn apple_mail_and_thunderbird_top_posts() {
        assert_split(
            "Yes, that was me.\n\nOn 30 Nov 2026, at 10:00, Support <support@peyk.example> wrote:\n\n> Did you order the upgrade?\n",
            "Yes, that was me.",
            "On 30 Nov 2026, at 10:00",
        );
        assert_split(
            "Yes, that was me.\n\nOn 11/30/26 10:00 AM, Support wrote:\n> Did you order the upgrade?\n",
            "Yes, that was me.",
            "On 11/30/26 10:00 AM, Support wrote:",
        );
    }

    #[test]
    fn outlook_underscore_separator_and_header_block() {
        let text = "Please cancel it.\n\nBest regards,\nSara\n\n________________________________\nFrom: Peyk Support <support@peyk.example>\nSent: Monday, November 30, 2026 10:00 AM\nTo: Sara Jones <sara.jones@example.com>\nSubject: RE: [#1234567] Question about my last invoice\n\nHello Sara,\nthe upgrade is active.\n";
        assert_split(
            text,
            "Please cancel it.\n\nBest regards,\nSara",
            "________________________________\nFrom: Peyk Support",
        );
    }

    #[test]
    fn outlook_bold_field_names_from_html() {
        assert_split(
            "Done, thanks.\n\n*From:* Peyk Support <support@peyk.example>\n*Sent:* Monday, November 30, 2026 10:00 AM\n*To:* Sara Jones\n*Subject:* RE: [#1234567] Invoice\n\nHello\n",
            "Done, thanks.",
            "*From:* Peyk Support",
        );
    }

    #[test]
    fn outlook_block_with_a_wrapped_to_line() {
        assert_split(
            "See below.\nFrom: Support <support@peyk.example>\nSent: Monday, November 30, 2026 10:00 AM\nTo: Sara Jones <sara.jones@example.com>; Billing\n <billing@example.com>\nSubject: RE: Invoice\n\nHello\n",
            "See below.",
            "From: Support",
        );
    }

    #[test]
    fn other_languages() {
        assert_split(
            "Merci.\n\nLe lun. 30 nov. 2026 à 10:00, Support <support@peyk.example> a écrit :\n> Bonjour\n",
            "Merci.",
            "Le lun. 30 nov. 2026",
        );
        assert_split(
            "Danke.\n\nAm 30.11.2026 um 10:00 schrieb Support <support@peyk.example>:\n> Hallo\n",
            "Danke.",
            "Am 30.11.2026",
        );
        assert_split(
            "Gracias.\n\nEl lun, 30 nov 2026 a las 10:00, Support (<support@peyk.example>) escribió:\n> Hola\n",
            "Gracias.",
            "El lun, 30 nov 2026",
        );
    }

    #[test]
    fn a_trailing_quote_without_attribution() {
        assert_split(
            "Yes please.\n\n> Shall we send a technician?\n> He can come on Tuesday.\n",
            "Yes please.",
            "> Shall we send",
        );
    }

    #[test]
    fn a_line_ending_with_a_colon_above_a_quote_stays_unless_it_reads_as_an_attribution() {
        assert_split(
            "It still fails. The error says:\n\n> Payment declined\n",
            "It still fails. The error says:",
            "> Payment declined",
        );
    }

    #[test]
    fn crlf_line_endings() {
        assert_split(
            "Hello\r\n\r\nOn Mon, 30 Nov 2026 at 10:00, Support <support@peyk.example> wrote:\r\n\r\n> Hi\r\n",
            "Hello",
            "On Mon, 30 Nov 2026",
        );
    }

    // --- Nothing to strip, or not allowed to.

    #[test]
    fn plain_text_and_signatures_stay_as_they_are() {
        assert_unchanged("Hello,\n\nmy internet is down since this morning.\n\n-- \nAli Rezaei\n");
        assert_unchanged("");
        assert_unchanged("   \n");
    }

    #[test]
    fn never_strips_everything() {
        assert_unchanged(
            "On Mon, 30 Nov 2026 at 10:00, Support <support@peyk.example> wrote:\n> Hi\n",
        );
        assert_unchanged("> just a quote\n> nothing else\n");
        assert_unchanged("-----Original Message-----\nFrom: a@b.c\nSent: today\nTo: d@e.f\n\nHi\n");
        assert_unchanged("\u{200F}\n\nOn 11/30/26 10:00 AM, Support wrote:\n> Hi\n");
    }

    #[test]
    fn interleaved_replies_keep_the_whole_text() {
        assert_unchanged(
            "Answers below.\n\nOn Mon, 30 Nov 2026 at 10:00, Support <support@peyk.example> wrote:\n> What is your account number?\n12345\n> Which router do you use?\nTP-Link\n",
        );
        assert_unchanged("> What is your account number?\n12345\n> Which router?\n");
        assert_unchanged(
            "See my answers.\n\n-----Original Message-----\nFrom: Support\nSent: Monday\nTo: Sara\n\n> Which plan?\nThe big one.\n",
        );
    }

    #[test]
    fn a_quote_in_the_middle_followed_by_new_text_stays() {
        assert_unchanged(
            "Your last mail said:\n> the outage is fixed\nbut it is not fixed. Please call me.\n",
        );
    }

    #[test]
    fn forwarded_messages_are_content() {
        assert_unchanged(
            "Please look at this bill.\n\n---------- Forwarded message ---------\nFrom: Billing <billing@isp.example>\nDate: Mon, 30 Nov 2026 at 09:00\nSubject: Your bill\nTo: <sara@example.com>\n\nAmount due: 45 EUR\n",
        );
        assert_unchanged(
            "FYI\n\nFrom: Billing <billing@isp.example>\nSent: Monday, November 30, 2026 9:00 AM\nTo: Sara\nSubject: FW: Your bill\n\nAmount due\n",
        );
    }

    #[test]
    fn sentences_that_look_a_little_like_headers_stay() {
        assert_unchanged(
            "On Monday I wrote to you about my bill.\nNobody answered.\nOn my invoice the amount is wrong, as I wrote:\nit should be 45 EUR.\n",
        );
        assert_unchanged(
            "On Monday I paid 4500 rial.\nAs I wrote:\nthe bill is still wrong.\n\nOn 2 Dec I called.\n",
        );
        assert_unchanged("From: my new address, nothing works.\nTo: whom it may concern\n");
        assert_unchanged("Sent from my iPhone");
    }

    #[test]
    fn thunderbird_inline_forward_is_content() {
        assert_unchanged(
            "Is this mail from you?\n\n-------- Forwarded Message --------\nSubject: Your password expires\nDate: Mon, 30 Nov 2026 09:00:00 +0000\nFrom: IT <it@peyk-support.example>\nTo: sara@example.com\n\nClick here.\n",
        );
    }

    #[test]
    fn long_texts_take_one_pass() {
        let block =
            "-----Original Message-----\nFrom: a@b.c\nSent: today\nTo: d@e.f\n> q\nanswer\n";
        let text = format!("Hello\n{}", block.repeat(20_000));
        assert_unchanged(&text);
        let text = format!("Hello\n\n{}", "> quoted line\n".repeat(100_000));
        assert_eq!(strip(&text).reply, "Hello");
    }

    // --- Persian.

    #[test]
    fn persian_gmail_with_bidi_marks_and_persian_digits() {
        let text = "سلام، هنوز اینترنت قطع است.\n\n\u{202B}در تاریخ دوشنبه ۱۰ آذر ۱۴۰۵ ساعت ۱۰:۰۰ پشتیبانی پیک <\u{202A}support@peyk.example\u{202C}\u{200F}> نوشت:\u{202C}\n\n> سلام علی عزیز،\n> لطفاً مودم را خاموش و روشن کنید.\n";
        assert_split(
            text,
            "سلام، هنوز اینترنت قطع است.",
            "\u{202B}در تاریخ دوشنبه ۱۰ آذر ۱۴۰۵",
        );
    }

    #[test]
    fn persian_gmail_wrapped_over_two_lines_with_rlm() {
        let text = "ممنون، درست شد.\n\n\u{200F}در تاریخ دوشنبه ۳۰ نوامبر ۲۰۲۶، ساعت ۱۰:۰۰ پشتیبانی پیک <\n\u{200F}support@peyk.example\u{200E}> نوشت:\n\n> سلام\n";
        assert_split(text, "ممنون، درست شد.", "\u{200F}در تاریخ دوشنبه");
    }

    #[test]
    fn persian_attribution_without_quote_marks() {
        assert_split(
            "باز هم قطع شد.\n\nدر تاریخ ۱۴۰۵/۰۹/۱۰ ساعت ۱۰:۰۰ پشتیبانی پیک نوشت:\n\nسلام، مشکل برطرف شد.\n",
            "باز هم قطع شد.",
            "در تاریخ ۱۴۰۵/۰۹/۱۰",
        );
    }

    #[test]
    fn persian_outlook_header_blocks() {
        assert_split(
            "لطفاً قرارداد را لغو کنید.\n\nبا احترام\nسارا\n\n________________________________\nاز: پشتیبانی پیک <support@peyk.example>\nارسال شده: دوشنبه، ۱۰ آذر ۱۴۰۵ ۱۰:۰۰\nبه: سارا احمدی <sara@example.ir>\nموضوع: RE: [#1234567] قرارداد\n\nسلام سارا،\n",
            "لطفاً قرارداد را لغو کنید.\n\nبا احترام\nسارا",
            "________________________________\nاز: پشتیبانی پیک",
        );
        assert_split(
            "مشکل حل نشده.\n\n\u{200F}فرستنده: پشتیبانی پیک <support@peyk.example>\n\u{200F}تاریخ: ۱۰ آذر ۱۴۰۵\n\u{200F}گیرنده: علی\n\u{200F}موضوع: پاسخ: اینترنت\n\nسلام\n",
            "مشکل حل نشده.",
            "\u{200F}فرستنده:",
        );
        assert_split(
            "باشه.\n\n-----پیام اصلی-----\nاز: پشتیبانی\nارسال شده: دوشنبه\nبه: علی\n\nسلام\n",
            "باشه.",
            "-----پیام اصلی-----",
        );
    }

    #[test]
    fn persian_trailing_quote() {
        assert_split(
            "بله، همین امروز.\n\n> آیا کارشناس بفرستیم؟\n",
            "بله، همین امروز.",
            "> آیا کارشناس",
        );
    }

    #[test]
    fn persian_text_that_stays() {
        assert_unchanged("سلام،\nدر نامهٔ قبلی نوشتم که اینترنت قطع است.\nلطفاً پیگیری کنید.\n");
        assert_unchanged(
            "در تاریخ ۱۰ آذر کارشناس شما آمد و نوشت:\nمودم خراب است.\n> نقل قول\nولی هنوز قطع است.\n",
        );
        assert_unchanged(
            "جواب‌ها پایین است.\n\nدر تاریخ دوشنبه ۱۰ آذر ۱۴۰۵ ساعت ۱۰:۰۰ پشتیبانی پیک نوشت:\n> شماره اشتراک؟\n۱۲۳۴۵\n> نوع مودم؟\nتی‌پی‌لینک\n",
        );
        assert_unchanged(
            "لطفاً این قبض را ببینید.\n\n---------- پیام بازارسال شده ---------\nاز: صورتحساب <billing@isp.example>\nتاریخ: ۱۰ آذر ۱۴۰۵\nموضوع: قبض\nبه: سارا\n\nمبلغ: ۴۵۰ هزار تومان\n",
        );
    }
}
