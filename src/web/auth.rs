//! Who is asking: agents' sessions (a cookie naming a row in `sessions`), HTTP Basic for the
//! JSON API, CSRF tokens on every form, and governor limits on password guesses.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::WebState;
use crate::service::agents::verify_password;
use crate::store::{self, agents::Agent};

/// The session cookie.
pub const SESSION_COOKIE: &str = "peyk_session";
/// The login form's double-submit CSRF cookie (there is no session yet to hold the token).
pub const LOGIN_CSRF_COOKIE: &str = "peyk_login_csrf";
/// The hidden field every form carries.
pub const CSRF_FIELD: &str = "csrf_token";
/// The largest form body the view reads.
pub const MAX_FORM_BYTES: usize = 1024 * 1024;
/// How long a password checked for HTTP Basic is remembered, so scripts do not pay argon2 on
/// every request.
const BASIC_CACHE_TTL: Duration = Duration::from_secs(60);

/// A fresh random token: 32 bytes, hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Equal in constant time (for tokens).
pub fn tokens_match(a: &str, b: &str) -> bool {
    !a.is_empty() && a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// What the view keeps across requests in one process: login rate limits and the Basic cache.
pub struct AuthShared {
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    by_email: DefaultKeyedRateLimiter<String>,
    /// Addresses and emails over their budget of wrong passwords, until when.
    blocked: Mutex<HashMap<String, Instant>>,
    basic_cache: Mutex<HashMap<[u8; 32], (i64, Instant)>>,
    /// Whether cookies get `Secure` (the public URL is https).
    pub secure_cookies: bool,
    pub session_lifetime: chrono::Duration,
}

/// A login attempt over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyAttempts;

impl AuthShared {
    pub fn new(settings: &crate::config::Settings) -> Self {
        let per_minute =
            NonZeroU32::new(settings.http.login_attempts_per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            by_address: RateLimiter::keyed(Quota::per_minute(per_minute)),
            by_email: RateLimiter::keyed(Quota::per_minute(per_minute)),
            blocked: Mutex::new(HashMap::new()),
            basic_cache: Mutex::new(HashMap::new()),
            secure_cookies: settings
                .http
                .public_url
                .to_ascii_lowercase()
                .starts_with("https://"),
            session_lifetime: chrono::Duration::hours(i64::from(
                settings.http.session_hours.max(1),
            )),
        }
    }

    /// Whether a password may be checked now for this address and email: not while either is
    /// blocked after too many wrong passwords.
    pub fn allow_attempt(&self, address: IpAddr, email: &str) -> Result<(), TooManyAttempts> {
        let keys = Self::block_keys(address, email);
        let Ok(mut blocked) = self.blocked.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        blocked.retain(|_, until| *until > now);
        if keys.iter().any(|k| blocked.contains_key(k)) {
            return Err(TooManyAttempts);
        }
        Ok(())
    }

    /// Counts a wrong password against the address and the email (governor, per minute); one
    /// over the budget blocks both for a minute.
    pub fn record_failure(&self, address: IpAddr, email: &str) -> Result<(), TooManyAttempts> {
        let email_key = email.trim().to_lowercase();
        let over = self.by_address.check_key(&address).is_err()
            | self.by_email.check_key(&email_key).is_err();
        if !over {
            return Ok(());
        }
        if let Ok(mut blocked) = self.blocked.lock() {
            let until = Instant::now() + Duration::from_secs(60);
            for key in Self::block_keys(address, email) {
                blocked.insert(key, until);
            }
        }
        Err(TooManyAttempts)
    }

    fn block_keys(address: IpAddr, email: &str) -> [String; 2] {
        [
            format!("address:{address}"),
            format!("email:{}", email.trim().to_lowercase()),
        ]
    }

    fn basic_key(email: &str, password: &str) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(email.trim().to_lowercase().as_bytes());
        hasher.update([0u8]);
        hasher.update(password.as_bytes());
        hasher.finalize().into()
    }

    fn cached_basic(&self, key: &[u8; 32]) -> Option<i64> {
        let cache = self.basic_cache.lock().ok()?;
        cache
            .get(key)
            .filter(|(_, at)| at.elapsed() < BASIC_CACHE_TTL)
            .map(|(id, _)| *id)
    }

    fn remember_basic(&self, key: [u8; 32], agent_id: i64) {
        if let Ok(mut cache) = self.basic_cache.lock() {
            if cache.len() > 10_000 {
                cache.retain(|_, (_, at)| at.elapsed() < BASIC_CACHE_TTL);
            }
            cache.insert(key, (agent_id, Instant::now()));
        }
    }

    /// `Set-Cookie` for a new session.
    pub fn session_cookie(&self, token: &str) -> String {
        format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
            self.session_lifetime.num_seconds(),
            if self.secure_cookies { "; Secure" } else { "" }
        )
    }

    /// `Set-Cookie` that removes the session cookie.
    pub fn clear_session_cookie(&self) -> String {
        format!(
            "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
            if self.secure_cookies { "; Secure" } else { "" }
        )
    }

    /// `Set-Cookie` for the login form's CSRF token.
    pub fn login_csrf_cookie(&self, token: &str) -> String {
        format!(
            "{LOGIN_CSRF_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=7200{}",
            if self.secure_cookies { "; Secure" } else { "" }
        )
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The client's address (unspecified when the server runs without connect info).
pub fn client_address(extensions: &axum::http::Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// An agent signed in through the session cookie.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub agent: Agent,
    pub csrf_token: String,
    /// The cookie's token (to end the session on logout).
    pub session_token: String,
}

impl SignedIn {
    pub fn is_admin(&self) -> bool {
        self.agent.role == "admin"
    }
}

async fn session_of(state: &WebState, headers: &HeaderMap) -> Option<SignedIn> {
    let token = cookie(headers, SESSION_COOKIE)?;
    match store::sessions::find_live(state.store.db(), &token, state.clock.now()).await {
        Ok(Some((session, agent))) => Some(SignedIn {
            agent,
            csrf_token: session.csrf_token,
            session_token: token,
        }),
        Ok(None) => None,
        Err(error) => {
            tracing::warn!(%error, "cannot look up a session");
            None
        }
    }
}

/// The page view's gate: loads the session into the request; refuses a POST whose form does not
/// carry the session's CSRF token (403, nothing done); sends anyone without a session to the
/// login page. `/login` itself checks its own double-submit token.
pub async fn page_gate(State(state): State<WebState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    if path == "/login" || path.starts_with("/static/") {
        return next.run(request).await;
    }
    let Some(signed_in) = session_of(&state, request.headers()).await else {
        let target = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let next_param = if request.method() == Method::GET {
            format!(
                "?next={}",
                form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>()
            )
        } else {
            String::new()
        };
        return Redirect::to(&format!("/login{next_param}")).into_response();
    };
    let (mut parts, body) = request.into_parts();
    let body = if parts.method == Method::POST {
        let bytes = match to_bytes(body, MAX_FORM_BYTES).await {
            Ok(bytes) => bytes,
            Err(_) => {
                return (StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.").into_response();
            }
        };
        let sent = form_urlencoded::parse(&bytes)
            .find(|(key, _)| key == CSRF_FIELD)
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default();
        if !tokens_match(&sent, &signed_in.csrf_token) {
            tracing::info!(
                path,
                agent = signed_in.agent.id,
                "form refused: missing or wrong CSRF token"
            );
            return super::pages::csrf_refused(&state, &signed_in);
        }
        Body::from(bytes)
    } else {
        body
    };
    parts.extensions.insert(signed_in);
    next.run(Request::from_parts(parts, body)).await
}

/// The signed-in agent of a page request (put there by [`page_gate`]).
pub struct PageAgent(pub SignedIn);

impl FromRequestParts<WebState> for PageAgent {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &WebState) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<SignedIn>()
            .cloned()
            .map(PageAgent)
            .ok_or_else(|| Redirect::to("/login").into_response())
    }
}

/// An agent calling the JSON API: HTTP Basic (email and password) or the session cookie.
#[derive(Debug, Clone)]
pub struct ApiAgent {
    pub agent: Agent,
}

/// The JSON API's 401 (or 429 for too many wrong passwords).
pub struct ApiAuthRejection {
    status: StatusCode,
    message: &'static str,
}

impl IntoResponse for ApiAuthRejection {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"peyk\", charset=\"UTF-8\""),
            );
        }
        response
    }
}

const UNAUTHORIZED: ApiAuthRejection = ApiAuthRejection {
    status: StatusCode::UNAUTHORIZED,
    message: "authentication required: HTTP Basic with an agent's email and password, or a session",
};

const TOO_MANY: ApiAuthRejection = ApiAuthRejection {
    status: StatusCode::TOO_MANY_REQUESTS,
    message: "too many wrong passwords; wait a minute",
};

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (email, password) = text.split_once(':')?;
    Some((email.to_string(), password.to_string()))
}

impl FromRequestParts<WebState> for ApiAgent {
    type Rejection = ApiAuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, Self::Rejection> {
        let shared = parts
            .extensions
            .get::<Arc<AuthShared>>()
            .cloned()
            .ok_or(UNAUTHORIZED)?;
        if parts.headers.contains_key(header::AUTHORIZATION) {
            let (email, password) = basic_credentials(&parts.headers).ok_or(UNAUTHORIZED)?;
            let key = AuthShared::basic_key(&email, &password);
            if let Some(agent_id) = shared.cached_basic(&key)
                && let Ok(Some(agent)) = store::agents::find(state.store.db(), agent_id).await
                && agent.active
            {
                return Ok(ApiAgent { agent });
            }
            if shared
                .allow_attempt(client_address(&parts.extensions), &email)
                .is_err()
            {
                return Err(TOO_MANY);
            }
            let address = client_address(&parts.extensions);
            let Some(agent) = check_password(state, &email, &password).await else {
                return Err(match shared.record_failure(address, &email) {
                    Ok(()) => UNAUTHORIZED,
                    Err(TooManyAttempts) => TOO_MANY,
                });
            };
            shared.remember_basic(key, agent.id);
            return Ok(ApiAgent { agent });
        }
        if let Some(signed_in) = parts.extensions.get::<SignedIn>() {
            return Ok(ApiAgent {
                agent: signed_in.agent.clone(),
            });
        }
        session_of(state, &parts.headers)
            .await
            .map(|s| ApiAgent { agent: s.agent })
            .ok_or(UNAUTHORIZED)
    }
}

/// The active agent with this email and password (argon2id, checked off the async threads).
pub async fn check_password(state: &WebState, email: &str, password: &str) -> Option<Agent> {
    let agent = store::agents::find_by_email(state.store.db(), email.trim())
        .await
        .ok()
        .flatten();
    let password = password.to_string();
    // Without an agent, still hash once so timing does not tell which emails exist.
    let hash = agent
        .as_ref()
        .map(|a| a.password_hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.clone());
    let matches = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    agent.filter(|a| matches && a.active)
}

/// An argon2id hash of a random password nobody knows, checked when the email is unknown.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    crate::service::agents::hash_password(&random_token()).unwrap_or_default()
});

/// Headers every response of the view and the API carries.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; peyk_session=abc; b=2"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn tokens_compare_whole_and_never_match_empty() {
        assert!(tokens_match("abc", "abc"));
        assert!(!tokens_match("abc", "abd"));
        assert!(!tokens_match("ab", "abc"));
        assert!(!tokens_match("", ""));
    }

    #[test]
    fn basic_credentials_decode() {
        let mut headers = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode("a@b.c:pass:word");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}"))
                .unwrap_or(HeaderValue::from_static("")),
        );
        assert_eq!(
            basic_credentials(&headers),
            Some(("a@b.c".into(), "pass:word".into()))
        );
    }
}
