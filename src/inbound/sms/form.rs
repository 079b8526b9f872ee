//! `application/x-www-form-urlencoded` text (form bodies and query strings) as name/value pairs,
//! in the order received and with repeats kept, as signature checks need them.

use super::SmsFieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not URL-encoded UTF-8 text")]
pub struct FormDecodeError;

/// Decodes `a=1&b=x+y&c=%D8%B3`: `+` is a space, `%XX` a byte; a `%` not followed by two hex
/// digits stays as written. Names and values must be UTF-8 once decoded.
pub fn decode_pairs(input: &[u8]) -> Result<Vec<(String, String)>, FormDecodeError> {
    input
        .split(|b| *b == b'&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let (name, value) = match segment.iter().position(|b| *b == b'=') {
                Some(at) => (&segment[..at], &segment[at + 1..]),
                None => (segment, &[][..]),
            };
            Ok((decode_component(name)?, decode_component(value)?))
        })
        .collect()
}

fn decode_component(input: &[u8]) -> Result<String, FormDecodeError> {
    let mut bytes = Vec::with_capacity(input.len());
    let mut at = 0;
    while at < input.len() {
        match input[at] {
            b'+' => {
                bytes.push(b' ');
                at += 1;
            }
            b'%' => match (
                input.get(at + 1).copied().and_then(hex_value),
                input.get(at + 2).copied().and_then(hex_value),
            ) {
                (Some(high), Some(low)) => {
                    bytes.push(high << 4 | low);
                    at += 3;
                }
                _ => {
                    bytes.push(b'%');
                    at += 1;
                }
            },
            other => {
                bytes.push(other);
                at += 1;
            }
        }
    }
    String::from_utf8(bytes).map_err(|_| FormDecodeError)
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// The value of `name`, when it was given once; given twice is an error (which one to trust?).
pub fn single<'a>(
    pairs: &'a [(String, String)],
    name: &'static str,
) -> Result<Option<&'a str>, SmsFieldError> {
    let mut found = pairs.iter().filter(|(n, _)| n == name).map(|(_, v)| v);
    match (found.next(), found.next()) {
        (Some(value), None) => Ok(Some(value.as_str())),
        (None, _) => Ok(None),
        (Some(_), Some(_)) => Err(SmsFieldError::Invalid {
            field: name,
            problem: "is given more than once".into(),
        }),
    }
}

/// The value of `name`, which must be there.
pub fn required<'a>(
    pairs: &'a [(String, String)],
    name: &'static str,
) -> Result<&'a str, SmsFieldError> {
    single(pairs, name)?.ok_or(SmsFieldError::Missing(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn plus_percent_and_repeats_are_decoded_in_order() {
        assert_eq!(
            decode_pairs(
                b"To=%2B18005551212&Body=hi+there&Body=%D8%B3%D9%84%D8%A7%D9%85&flag&&x=100%"
            ),
            Ok(pairs(&[
                ("To", "+18005551212"),
                ("Body", "hi there"),
                ("Body", "سلام"),
                ("flag", ""),
                ("x", "100%"),
            ]))
        );
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        assert_eq!(decode_pairs(b"Body=%FF%FE"), Err(FormDecodeError));
    }

    #[test]
    fn a_repeated_field_is_not_guessed() {
        let list = pairs(&[("from", "1"), ("from", "2"), ("to", "3")]);
        assert!(single(&list, "from").is_err());
        assert_eq!(required(&list, "to"), Ok("3"));
        assert_eq!(
            required(&list, "message"),
            Err(SmsFieldError::Missing("message"))
        );
    }
}
