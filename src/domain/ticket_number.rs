//! Ticket numbers: six random digits and a Damm check digit, so a mistyped number is caught
//! before it threads into someone else's ticket. When the six-digit space gets crowded (a desk
//! with most of its 900,000 numbers used), new tickets get eight random digits and the check
//! digit instead; both lengths are read everywhere.

use std::fmt;

use super::digits::digit_value;

/// Length of a ticket number, check digit included.
pub const TICKET_NUMBER_LEN: usize = 7;
/// Length of the long form, used once short numbers are hard to find free.
pub const LONG_TICKET_NUMBER_LEN: usize = 9;

/// Short numbers drawn before falling back to the long form: with 20 draws, the long form is
/// needed only once about 85% of the short numbers are used.
pub const SHORT_DRAWS: usize = 20;

/// The Damm quasigroup of order 10 (weakly totally anti-symmetric): it catches every
/// single-digit error and every adjacent transposition.
const DAMM_TABLE: [[u8; 10]; 10] = [
    [0, 3, 1, 7, 5, 9, 8, 6, 4, 2],
    [7, 0, 9, 2, 1, 5, 4, 8, 6, 3],
    [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
    [1, 7, 5, 0, 9, 8, 3, 4, 2, 6],
    [6, 1, 2, 3, 0, 4, 5, 9, 7, 8],
    [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
    [5, 8, 6, 9, 7, 2, 0, 1, 3, 4],
    [8, 9, 4, 5, 3, 6, 2, 0, 1, 7],
    [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
    [2, 5, 8, 1, 4, 3, 6, 7, 9, 0],
];

fn damm_interim(digits: impl IntoIterator<Item = u8>) -> u8 {
    digits
        .into_iter()
        .fold(0u8, |interim, d| DAMM_TABLE[interim as usize][d as usize])
}

/// The Damm check digit of a string of digit values (each 0..=9).
pub fn damm_check_digit(digits: &[u8]) -> u8 {
    damm_interim(digits.iter().copied())
}

/// A valid ticket number, held as seven ASCII digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TicketNumber(String);

/// Why a string is not a ticket number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketNumberError {
    #[error(
        "a ticket number has {TICKET_NUMBER_LEN} (or {LONG_TICKET_NUMBER_LEN}) digits, this has {0}"
    )]
    WrongLength(usize),
    #[error("a ticket number has only digits")]
    NotDigits,
    #[error("the check digit does not match: the number is mistyped")]
    CheckDigitFails,
}

impl TicketNumber {
    /// Parses a number written in ASCII, Persian or Arabic-Indic digits, with an optional
    /// leading `#` and surrounding spaces. A number whose check digit fails is refused.
    pub fn parse(input: &str) -> Result<Self, TicketNumberError> {
        let trimmed = input.trim();
        let trimmed = trimmed.strip_prefix('#').unwrap_or(trimmed).trim_start();
        let values: Vec<u8> = trimmed
            .chars()
            .map(digit_value)
            .collect::<Option<Vec<u8>>>()
            .ok_or(TicketNumberError::NotDigits)?;
        if values.len() != TICKET_NUMBER_LEN && values.len() != LONG_TICKET_NUMBER_LEN {
            return Err(TicketNumberError::WrongLength(values.len()));
        }
        if damm_interim(values.iter().copied()) != 0 {
            return Err(TicketNumberError::CheckDigitFails);
        }
        Ok(Self(values.iter().map(|v| char::from(b'0' + v)).collect()))
    }

    /// Builds a number from six digit values (the first not zero, so the number never loses
    /// a leading digit when someone retypes it) and appends the check digit.
    pub fn from_body(body: [u8; TICKET_NUMBER_LEN - 1]) -> Self {
        let mut digits = body.to_vec();
        if digits[0] == 0 {
            digits[0] = 1;
        }
        for d in digits.iter_mut() {
            *d %= 10;
        }
        let check = damm_check_digit(&digits);
        digits.push(check);
        Self(digits.iter().map(|v| char::from(b'0' + v)).collect())
    }

    /// A fresh random number in the long form (eight random digits, the first not zero, and
    /// the check digit).
    pub fn random_long(rng: &mut impl rand::Rng) -> Self {
        let mut digits: Vec<u8> = (0..LONG_TICKET_NUMBER_LEN - 1)
            .map(|i| {
                if i == 0 {
                    rng.random_range(1..=9)
                } else {
                    rng.random_range(0..=9)
                }
            })
            .collect();
        digits.push(damm_check_digit(&digits));
        Self(digits.iter().map(|v| char::from(b'0' + v)).collect())
    }

    /// The number to try on draw `attempt` (from 0) of finding a free one: short numbers
    /// first, the long form once [`SHORT_DRAWS`] short ones were taken.
    pub fn random_for_attempt(rng: &mut impl rand::Rng, attempt: usize) -> Self {
        if attempt < SHORT_DRAWS {
            Self::random(rng)
        } else {
            Self::random_long(rng)
        }
    }

    /// A fresh random number. Uniqueness is the store's job (it retries on a collision).
    pub fn random(rng: &mut impl rand::Rng) -> Self {
        let mut body = [0u8; TICKET_NUMBER_LEN - 1];
        body[0] = rng.random_range(1..=9);
        for d in body.iter_mut().skip(1) {
            *d = rng.random_range(0..=9);
        }
        Self::from_body(body)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with one digit changed so that its check digit fails (for tests and examples).
    pub fn mistyped(&self) -> String {
        let mut chars: Vec<char> = self.0.chars().collect();
        let last = chars.len() - 1;
        let d = chars[last] as u8 - b'0';
        chars[last] = char::from(b'0' + (d + 1) % 10);
        chars.into_iter().collect()
    }
}

impl fmt::Display for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::digits::{to_arabic_indic_digits, to_persian_digits};

    #[test]
    fn damm_check_digit_matches_the_published_example() {
        // The textbook example: 572 has check digit 4, and 5724 validates.
        assert_eq!(damm_check_digit(&[5, 7, 2]), 4);
        assert_eq!(damm_interim([5, 7, 2, 4]), 0);
    }

    #[test]
    fn a_generated_number_parses_in_all_three_digit_systems() {
        let mut rng = rand::rng();
        for _ in 0..200 {
            let number = TicketNumber::random(&mut rng);
            assert_eq!(number.as_str().len(), 7);
            assert_ne!(number.as_str().as_bytes()[0], b'0');
            assert_eq!(TicketNumber::parse(number.as_str()), Ok(number.clone()));
            assert_eq!(
                TicketNumber::parse(&to_persian_digits(number.as_str())),
                Ok(number.clone())
            );
            assert_eq!(
                TicketNumber::parse(&to_arabic_indic_digits(number.as_str())),
                Ok(number.clone())
            );
            assert_eq!(
                TicketNumber::parse(&format!(" #{number} ")),
                Ok(number.clone())
            );
        }
    }

    #[test]
    fn every_single_digit_error_and_adjacent_transposition_is_refused() {
        let number = TicketNumber::from_body([4, 8, 1, 5, 9, 2]);
        let digits: Vec<u8> = number.as_str().bytes().map(|b| b - b'0').collect();
        for pos in 0..digits.len() {
            for wrong in 0..10u8 {
                if wrong == digits[pos] {
                    continue;
                }
                let mut typo = digits.clone();
                typo[pos] = wrong;
                let text: String = typo.iter().map(|d| char::from(b'0' + d)).collect();
                assert_eq!(
                    TicketNumber::parse(&text),
                    Err(TicketNumberError::CheckDigitFails),
                    "{text}"
                );
            }
        }
        for pos in 0..digits.len() - 1 {
            if digits[pos] == digits[pos + 1] {
                continue;
            }
            let mut swapped = digits.clone();
            swapped.swap(pos, pos + 1);
            let text: String = swapped.iter().map(|d| char::from(b'0' + d)).collect();
            assert_eq!(
                TicketNumber::parse(&text),
                Err(TicketNumberError::CheckDigitFails),
                "{text}"
            );
        }
    }

    #[test]
    fn long_numbers_parse_and_catch_typos_too() {
        let mut rng = rand::rng();
        for _ in 0..100 {
            let number = TicketNumber::random_long(&mut rng);
            assert_eq!(number.as_str().len(), LONG_TICKET_NUMBER_LEN);
            assert_eq!(
                TicketNumber::parse(&to_persian_digits(number.as_str())),
                Ok(number.clone())
            );
            assert_eq!(
                TicketNumber::parse(&number.mistyped()),
                Err(TicketNumberError::CheckDigitFails)
            );
        }
        assert_eq!(
            TicketNumber::random_for_attempt(&mut rng, 0).as_str().len(),
            TICKET_NUMBER_LEN
        );
        assert_eq!(
            TicketNumber::random_for_attempt(&mut rng, SHORT_DRAWS)
                .as_str()
                .len(),
            LONG_TICKET_NUMBER_LEN
        );
    }

    #[test]
    fn wrong_lengths_and_letters_are_refused() {
        assert_eq!(
            TicketNumber::parse("123456"),
            Err(TicketNumberError::WrongLength(6))
        );
        assert_eq!(
            TicketNumber::parse("12345678"),
            Err(TicketNumberError::WrongLength(8))
        );
        assert_eq!(
            TicketNumber::parse("12a4567"),
            Err(TicketNumberError::NotDigits)
        );
        assert_eq!(
            TicketNumber::parse(""),
            Err(TicketNumberError::WrongLength(0))
        );
    }

    #[test]
    fn mistyped_numbers_fail_their_check() {
        let number = TicketNumber::from_body([1, 2, 3, 4, 5, 6]);
        assert!(TicketNumber::parse(&number.mistyped()).is_err());
    }
}
