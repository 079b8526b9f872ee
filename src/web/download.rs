//! Serving a stored attachment: always as a download, never rendered by the browser.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::store::entities::attachment;

/// Why an attachment cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadRefusal {
    /// Refused at intake (too large, say): the bytes were never kept.
    Refused(String),
    /// The row has no content.
    Missing,
}

/// The attachment's bytes with `Content-Disposition: attachment`, `nosniff`, and a content
/// type that a browser will not run (active types become `application/octet-stream`).
pub fn attachment_response(found: attachment::Model) -> Result<Response, DownloadRefusal> {
    if found.refused {
        return Err(DownloadRefusal::Refused(
            found
                .refused_reason
                .unwrap_or_else(|| "refused at intake".into()),
        ));
    }
    let Some(content) = found.content else {
        return Err(DownloadRefusal::Missing);
    };
    let content_type = HeaderValue::from_str(&safe_content_type(&found.content_type))
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let disposition = HeaderValue::from_str(&content_disposition(&found.filename))
        .unwrap_or(HeaderValue::from_static("attachment"));
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; sandbox"),
            ),
        ],
        content,
    )
        .into_response())
}

/// The stored type when it is plain and passive; otherwise `application/octet-stream`.
pub fn safe_content_type(stored: &str) -> String {
    let essence = stored
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let well_formed = essence.split_once('/').is_some_and(|(kind, sub)| {
        !kind.is_empty()
            && !sub.is_empty()
            && essence
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/.+-_".contains(c))
    });
    let active = essence.contains("html")
        || essence.contains("xml")
        || essence.contains("javascript")
        || essence.contains("ecmascript")
        || essence == "text/css";
    if well_formed && !active {
        essence
    } else {
        "application/octet-stream".to_string()
    }
}

/// `attachment; filename="ascii"; filename*=UTF-8''percent-encoded` (RFC 6266).
pub fn content_disposition(filename: &str) -> String {
    let name = filename.trim();
    let name = if name.is_empty() { "attachment" } else { name };
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_types_are_served_as_octet_stream() {
        assert_eq!(
            safe_content_type("text/html; charset=utf-8"),
            "application/octet-stream"
        );
        assert_eq!(
            safe_content_type("image/svg+xml"),
            "application/octet-stream"
        );
        assert_eq!(
            safe_content_type("application/javascript"),
            "application/octet-stream"
        );
        assert_eq!(safe_content_type("bogus"), "application/octet-stream");
        assert_eq!(safe_content_type("application/pdf"), "application/pdf");
        assert_eq!(safe_content_type("image/png"), "image/png");
    }

    #[test]
    fn filenames_are_quoted_safely_and_kept_in_utf8() {
        assert_eq!(
            content_disposition("report \"final\".pdf"),
            "attachment; filename=\"report _final_.pdf\"; filename*=UTF-8''report%20%22final%22.pdf"
        );
        let persian = content_disposition("فاکتور.pdf");
        assert!(
            persian.starts_with("attachment; filename=\"______.pdf\""),
            "{persian}"
        );
        assert!(persian.contains("filename*=UTF-8''%D9%81"), "{persian}");
        assert!(!content_disposition("a\r\nb").contains('\n'));
    }
}
