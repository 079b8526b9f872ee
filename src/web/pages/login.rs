//! Login, logout and the agent's language.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::Extension;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Chrome, PageError, PageFailure};
use crate::domain::ticket::Language;
use crate::store;
use crate::web::WebState;
use crate::web::auth::{
    AuthShared, LOGIN_CSRF_COOKIE, PageAgent, SESSION_COOKIE, check_password, client_address,
    cookie, random_token, tokens_match,
};

#[derive(Template, WebTemplate)]
#[template(path = "web/login.html")]
struct LoginPage {
    chrome: Chrome,
    login_csrf: String,
    email: String,
    next: String,
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Where to go after login: only a path on this site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_string()
        }
        _ => "/queue".to_string(),
    }
}

fn login_page(
    state: &WebState,
    shared: &AuthShared,
    headers: &HeaderMap,
    status: StatusCode,
    email: String,
    next: String,
    error: Option<&str>,
) -> Response {
    let language = state.settings.app.default_language;
    let mut chrome = Chrome::anonymous(state, language);
    chrome.error = error.map(str::to_string);
    let title = chrome.t.login_title;
    let chrome = chrome.titled(title);
    let (login_csrf, fresh) = match cookie(headers, LOGIN_CSRF_COOKIE) {
        Some(token) if token.len() == 64 => (token, false),
        _ => (random_token(), true),
    };
    let page = LoginPage {
        chrome,
        login_csrf: login_csrf.clone(),
        email,
        next,
    };
    let mut response = (status, page).into_response();
    if fresh && let Ok(value) = HeaderValue::from_str(&shared.login_csrf_cookie(&login_csrf)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub async fn form(
    State(state): State<WebState>,
    Extension(shared): Extension<Arc<AuthShared>>,
    Query(query): Query<LoginQuery>,
    headers: HeaderMap,
) -> Response {
    let next = safe_next(query.next.as_deref());
    if let Some(token) = cookie(&headers, SESSION_COOKIE)
        && let Ok(Some(_)) =
            store::sessions::find_live(state.store.db(), &token, state.clock.now()).await
    {
        return Redirect::to(&next).into_response();
    }
    login_page(
        &state,
        &shared,
        &headers,
        StatusCode::OK,
        String::new(),
        next,
        None,
    )
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: String,
    next: Option<String>,
}

pub async fn submit(
    State(state): State<WebState>,
    Extension(shared): Extension<Arc<AuthShared>>,
    request_parts: axum::http::Extensions,
    headers: HeaderMap,
    Form(login): Form<LoginForm>,
) -> Response {
    let next = safe_next(login.next.as_deref());
    let t = crate::web::i18n::texts(state.settings.app.default_language);
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if !tokens_match(&login.csrf_token, &expected) {
        return login_page(
            &state,
            &shared,
            &headers,
            StatusCode::FORBIDDEN,
            login.email,
            next,
            Some(t.login_expired),
        );
    }
    if shared
        .allow_attempt(client_address(&request_parts), &login.email)
        .is_err()
    {
        return login_page(
            &state,
            &shared,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            login.email,
            next,
            Some(t.login_limited),
        );
    }
    let Some(agent) = check_password(&state, &login.email, &login.password).await else {
        tracing::info!("login refused: wrong email or password");
        let (status, message) =
            match shared.record_failure(client_address(&request_parts), &login.email) {
                Ok(()) => (StatusCode::UNAUTHORIZED, t.login_failed),
                Err(_) => (StatusCode::TOO_MANY_REQUESTS, t.login_limited),
            };
        return login_page(
            &state,
            &shared,
            &headers,
            status,
            login.email,
            next,
            Some(message),
        );
    };
    let now = state.clock.now();
    let token = random_token();
    if let Err(error) = store::sessions::create(
        state.store.db(),
        &token,
        agent.id,
        &random_token(),
        now,
        now + shared.session_lifetime,
    )
    .await
    {
        tracing::error!(%error, "cannot store a session");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "The session could not be stored; try again.",
        )
            .into_response();
    }
    // Now and then, clear out old sessions.
    if rand::random::<u8>() == 0 {
        let _ = store::sessions::purge_expired(state.store.db(), now).await;
    }
    tracing::info!(agent = agent.id, "agent logged in");
    let mut response = Redirect::to(&next).into_response();
    if let Ok(value) = HeaderValue::from_str(&shared.session_cookie(&token)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

pub async fn logout(
    State(state): State<WebState>,
    Extension(shared): Extension<Arc<AuthShared>>,
    PageAgent(signed_in): PageAgent,
) -> Response {
    let _ = store::sessions::delete(state.store.db(), &signed_in.session_token).await;
    let mut response = Redirect::to("/login").into_response();
    if let Ok(value) = HeaderValue::from_str(&shared.clear_session_cookie()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Debug, Deserialize)]
pub struct PreferencesForm {
    language: String,
}

pub async fn preferences(
    State(state): State<WebState>,
    PageAgent(signed_in): PageAgent,
    headers: HeaderMap,
    Form(form): Form<PreferencesForm>,
) -> Result<Response, PageFailure> {
    let failure = |error| PageFailure {
        error,
        chrome: Box::new(Chrome::new(&state, &signed_in, "")),
    };
    let language = Language::parse(&form.language).ok_or_else(|| {
        failure(PageError::BadRequest(format!(
            "unknown language {:?}",
            form.language
        )))
    })?;
    store::agents::set_language(
        state.store.db(),
        signed_in.agent.id,
        Some(language.as_str()),
    )
    .await
    .map_err(|e| failure(e.into()))?;
    // Back to the page the form was on (same site only).
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|referer| {
            let public = state.settings.http.public_url.trim_end_matches('/');
            referer
                .strip_prefix(public)
                .or_else(|| {
                    let host = headers.get(header::HOST)?.to_str().ok()?;
                    referer
                        .strip_prefix("http://")
                        .or_else(|| referer.strip_prefix("https://"))?
                        .strip_prefix(host)
                })
                .map(str::to_string)
        });
    Ok(Redirect::to(&safe_next(back.as_deref())).into_response())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/tickets/1234567")), "/tickets/1234567");
        assert_eq!(safe_next(Some("//evil.example/")), "/queue");
        assert_eq!(safe_next(Some("https://evil.example/")), "/queue");
        assert_eq!(safe_next(Some("/\\evil.example")), "/queue");
        assert_eq!(safe_next(None), "/queue");
    }
}
