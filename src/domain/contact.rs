//! Who writes to Peyk: email addresses and phone numbers in one canonical form each.

use std::fmt;

use super::digits::to_ascii_digits;

/// An email address, lower-cased, with one `@` between a non-empty local part and domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("not an email address: {0:?}")]
    BadEmail(String),
    #[error("not a phone number: {0:?}")]
    BadPhone(String),
}

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, ContactError> {
        let trimmed = input
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim();
        let bad = || ContactError::BadEmail(input.to_string());
        let (local, domain) = trimmed.rsplit_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || domain.is_empty()
            || trimmed.len() > 320
            || trimmed.chars().any(|c| c.is_whitespace() || c.is_control())
            || domain.contains('@')
        {
            return Err(bad());
        }
        Ok(Self(trimmed.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn local_part(&self) -> &str {
        self.0
            .rsplit_once('@')
            .map(|(local, _)| local)
            .unwrap_or(&self.0)
    }

    pub fn domain(&self) -> &str {
        self.0
            .rsplit_once('@')
            .map(|(_, domain)| domain)
            .unwrap_or("")
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number in E.164 (`+989121234567`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses a number in any common form (`09121234567`, `+989121234567`, `989121234567`,
    /// `00989121234567`, Persian or Arabic-Indic digits, spaces and dashes) into E.164.
    /// `default_region` (ISO 3166 alpha-2, e.g. "IR") decides numbers written nationally.
    pub fn parse(input: &str, default_region: &str) -> Result<Self, ContactError> {
        let bad = || ContactError::BadPhone(input.to_string());
        let ascii: String = to_ascii_digits(input)
            .chars()
            .filter(|c| {
                !matches!(
                    c,
                    ' ' | '-' | '(' | ')' | '.' | '\u{200c}' | '\u{200f}' | '\u{200e}'
                )
            })
            .collect();
        let region: phonenumber::country::Id = default_region.parse().map_err(|_| bad())?;
        let region_code = phonenumber::metadata::DATABASE
            .by_id(region.as_ref())
            .map(|meta| meta.country_code())
            .ok_or_else(bad)?;
        let candidate = if let Some(rest) = ascii.strip_prefix("00") {
            format!("+{rest}")
        } else if !ascii.starts_with('+')
            && !ascii.starts_with('0')
            && ascii.starts_with(&region_code.to_string())
            && ascii.len() > 10
        {
            // 989121234567: the country code written without "+".
            format!("+{ascii}")
        } else {
            ascii
        };
        let parsed = phonenumber::parse(Some(region), &candidate).map_err(|_| bad())?;
        if !phonenumber::is_valid(&parsed) {
            return Err(bad());
        }
        Ok(Self(
            parsed.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses_are_lower_cased_and_checked() {
        assert_eq!(
            EmailAddress::parse(" Ali@Example.IR ").map(|e| e.0),
            Ok("ali@example.ir".into())
        );
        assert_eq!(
            EmailAddress::parse("<x@y.z>").map(|e| e.domain().to_string()),
            Ok("y.z".into())
        );
        assert!(EmailAddress::parse("no-at-sign").is_err());
        assert!(EmailAddress::parse("@example.com").is_err());
        assert!(EmailAddress::parse("a b@example.com").is_err());
    }

    #[test]
    fn the_four_iranian_formats_are_one_number() {
        let expected = "+989121234567";
        for form in [
            "09121234567",
            "+989121234567",
            "989121234567",
            "00989121234567",
            "۰۹۱۲۱۲۳۴۵۶۷",
            "٠٩١٢١٢٣٤٥٦٧",
            "0912 123 4567",
        ] {
            assert_eq!(
                PhoneNumber::parse(form, "IR").map(|p| p.0),
                Ok(expected.to_string()),
                "{form}"
            );
        }
    }

    #[test]
    fn foreign_numbers_keep_their_country() {
        assert_eq!(
            PhoneNumber::parse("+1 415 555 2671", "IR").map(|p| p.0),
            Ok("+14155552671".into())
        );
        assert!(PhoneNumber::parse("12", "IR").is_err());
        assert!(PhoneNumber::parse("hello", "IR").is_err());
    }
}
