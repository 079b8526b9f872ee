//! SMS length: GSM-7 or UCS-2, and how many segments a text costs.
//!
//! GSM 03.38: a text made only of the basic character set is sent as GSM-7, 160 septets in one
//! segment, 153 per segment when concatenated (the user data header takes 7). The extension
//! characters `^ { } \ [ ~ ] | €` (and form feed) take an escape septet, so they count two.
//! Any other character (a Persian letter, an emoji...) makes the whole text UCS-2: 70 UTF-16
//! code units in one segment, 67 per segment when concatenated; characters outside the BMP
//! (most emoji) are two code units.

/// The encoding an SMS text needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsEncoding {
    Gsm7,
    Ucs2,
}

/// The cost of one text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentCount {
    pub encoding: SmsEncoding,
    /// Septets for GSM-7, UTF-16 code units for UCS-2.
    pub units: usize,
    pub segments: usize,
}

/// GSM 03.38 basic character set (the 128 positions, with the escape position left out).
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// GSM 03.38 extension table: each is sent as ESC + character.
const GSM_EXTENSION: &str = "^{}\\[~]|€\u{000C}";

/// Septets `c` costs in GSM-7, or `None` when GSM-7 cannot carry it.
fn gsm_septets(c: char) -> Option<usize> {
    if GSM_BASIC.contains(c) {
        Some(1)
    } else if GSM_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// The encoding, length in units and segment count of `text`.
pub fn count(text: &str) -> SegmentCount {
    let septets: Option<usize> = text.chars().map(gsm_septets).sum();
    match septets {
        Some(units) => SegmentCount {
            encoding: SmsEncoding::Gsm7,
            units,
            segments: segments_for(units, 160, 153),
        },
        None => {
            let units = text.encode_utf16().count();
            SegmentCount {
                encoding: SmsEncoding::Ucs2,
                units,
                segments: segments_for(units, 70, 67),
            }
        }
    }
}

fn segments_for(units: usize, single: usize, part: usize) -> usize {
    if units == 0 {
        0
    } else if units <= single {
        1
    } else {
        units.div_ceil(part)
    }
}

/// Renders `make(variable)` with as much of `variable` as fits in `max_segments`, cutting it at
/// a character boundary and marking the cut with "..." (GSM-7, so an English text stays GSM-7). The rest of the text (which carries the
/// ticket number) is always kept whole, even when it alone is longer than the budget.
pub fn fit(variable: &str, max_segments: usize, make: impl Fn(&str) -> String) -> String {
    let full = make(variable);
    let max_segments = max_segments.max(1);
    if count(&full).segments <= max_segments {
        return full;
    }
    let chars: Vec<char> = variable.trim().chars().collect();
    // The longest prefix that fits: the segment count only grows with the prefix length.
    let (mut lo, mut hi) = (0usize, chars.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if count(&make(&shortened(&chars, mid))).segments <= max_segments {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    make(&shortened(&chars, lo))
}

fn shortened(chars: &[char], len: usize) -> String {
    if len == 0 {
        return String::new();
    }
    let mut text: String = chars[..len].iter().collect();
    text = text.trim_end().to_string();
    text.push_str("...");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm7_single_segment_holds_160_characters() {
        let c = count(&"a".repeat(160));
        assert_eq!(c.encoding, SmsEncoding::Gsm7);
        assert_eq!((c.units, c.segments), (160, 1));
        assert_eq!(count(&"a".repeat(161)).segments, 2);
        assert_eq!(count(&"a".repeat(306)).segments, 2);
        assert_eq!(count(&"a".repeat(307)).segments, 3);
        assert_eq!(count(&"a".repeat(459)).segments, 3);
        assert_eq!(count("").segments, 0);
    }

    #[test]
    fn extension_characters_count_two_septets() {
        let c = count("[#123]");
        assert_eq!(c.encoding, SmsEncoding::Gsm7);
        assert_eq!(c.units, 8);
        let c = count("€5 {x}");
        assert_eq!((c.encoding, c.units), (SmsEncoding::Gsm7, 9));
        // 80 euro signs are 160 septets: one segment; 81 are two.
        assert_eq!(count(&"€".repeat(80)).segments, 1);
        assert_eq!(count(&"€".repeat(81)).segments, 2);
        // Accented letters of the basic set stay GSM-7.
        assert_eq!(count("café à Åland").encoding, SmsEncoding::Gsm7);
    }

    #[test]
    fn ucs2_counts_utf16_units() {
        let c = count(&"ж".repeat(70));
        assert_eq!(
            (c.encoding, c.units, c.segments),
            (SmsEncoding::Ucs2, 70, 1)
        );
        assert_eq!(count(&"ж".repeat(71)).segments, 2);
        assert_eq!(count(&"ж".repeat(134)).segments, 2);
        assert_eq!(count(&"ж".repeat(135)).segments, 3);
        // One character outside GSM-7 turns the whole text into UCS-2.
        let c = count(&format!("{}ç", "a".repeat(100)));
        assert_eq!(c.encoding, SmsEncoding::Ucs2);
        assert_eq!(c.segments, 2);
        // An emoji is a surrogate pair: two units.
        let c = count("ok 😀");
        assert_eq!((c.encoding, c.units), (SmsEncoding::Ucs2, 5));
        assert_eq!(count(&"😀".repeat(35)).segments, 1);
        assert_eq!(count(&"😀".repeat(36)).segments, 2);
    }

    #[test]
    fn persian_text_is_ucs2() {
        let text = "سلام".repeat(33) + "سل"; // 134 letters
        let c = count(&text);
        assert_eq!(
            (c.encoding, c.units, c.segments),
            (SmsEncoding::Ucs2, 134, 2)
        );
        let one_more = format!("{text}م");
        assert_eq!(count(&one_more).segments, 3);
        assert_eq!(count("تیکت 123").encoding, SmsEncoding::Ucs2);
    }

    #[test]
    fn fitting_shortens_the_variable_part_and_keeps_the_number() {
        let subject = "internet outage in the whole building ".repeat(20);
        let make = |s: &str| format!("Ticket #5193078: {s}");
        let fitted = fit(&subject, 1, make);
        assert!(fitted.starts_with("Ticket #5193078: internet"));
        assert!(fitted.ends_with("..."));
        assert_eq!(count(&fitted).segments, 1);
        let persian = "قطعی اینترنت در کل ساختمان ".repeat(20);
        let fitted = fit(&persian, 2, |s| format!("تیکت ۵۱۹۳۰۷۸: {s}"));
        assert!(fitted.contains("۵۱۹۳۰۷۸"));
        let c = count(&fitted);
        assert_eq!(c.segments, 2);
        assert!(c.units > 120, "{c:?}");
        // Short text is left alone.
        assert_eq!(fit("short", 1, make), "Ticket #5193078: short");
    }
}
