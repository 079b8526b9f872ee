//! The three digit systems Peyk reads: ASCII, Persian (U+06F0–U+06F9) and Arabic-Indic (U+0660–U+0669).

/// The ASCII value of a digit in any of the three systems, or `None`.
pub fn digit_value(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8 - b'0'),
        '\u{06F0}'..='\u{06F9}' => Some((c as u32 - 0x06F0) as u8),
        '\u{0660}'..='\u{0669}' => Some((c as u32 - 0x0660) as u8),
        _ => None,
    }
}

/// True for a digit in any of the three systems.
pub fn is_any_digit(c: char) -> bool {
    digit_value(c).is_some()
}

/// Replaces Persian and Arabic-Indic digits with ASCII ones; every other character stays.
pub fn to_ascii_digits(text: &str) -> String {
    text.chars()
        .map(|c| match digit_value(c) {
            Some(v) if !c.is_ascii_digit() => char::from(b'0' + v),
            _ => c,
        })
        .collect()
}

/// Writes ASCII digits as Persian digits (for Persian-language output).
pub fn to_persian_digits(text: &str) -> String {
    shift_ascii_digits(text, 0x06F0)
}

/// Writes ASCII digits as Arabic-Indic digits.
pub fn to_arabic_indic_digits(text: &str) -> String {
    shift_ascii_digits(text, 0x0660)
}

fn shift_ascii_digits(text: &str, zero: u32) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_digit() {
                char::from_u32(zero + (c as u32 - '0' as u32)).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persian_and_arabic_indic_digits_become_ascii() {
        assert_eq!(to_ascii_digits("۱۲۳۴"), "1234");
        assert_eq!(to_ascii_digits("٥٦٧"), "567");
        assert_eq!(to_ascii_digits("a۱b٢c3"), "a1b2c3");
    }

    #[test]
    fn ascii_digits_round_trip_through_both_systems() {
        let persian = to_persian_digits("2024-11");
        assert_eq!(persian, "۲۰۲۴-۱۱");
        assert_eq!(to_ascii_digits(&persian), "2024-11");
        assert_eq!(to_ascii_digits(&to_arabic_indic_digits("9081")), "9081");
    }
}
