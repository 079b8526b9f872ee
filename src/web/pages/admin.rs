//! Administration: agents, departments, prepared answers. Admins only.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Form, Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::{Chrome, PageError, PageFailure, see_other};
use crate::domain::ticket::Language;
use crate::service::agents::{AgentError, AgentRole, add_agent as create_agent};
use crate::store::{self, StoreError};
use crate::web::WebState;
use crate::web::auth::PageAgent;

pub struct AgentRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: String,
    pub language: String,
    pub active: bool,
    pub is_self: bool,
}

pub struct DepartmentRow {
    pub key: String,
    pub name: String,
}

pub struct CannedRow {
    pub id: i64,
    pub title: String,
    pub body: String,
    pub language: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/admin.html")]
pub struct AdminPage {
    chrome: Chrome,
    agents: Vec<AgentRow>,
    departments: Vec<DepartmentRow>,
    canned: Vec<CannedRow>,
}

#[derive(Debug, Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

fn admin_only(state: &WebState, agent: &PageAgent) -> Result<(), PageFailure> {
    if agent.0.is_admin() {
        Ok(())
    } else {
        Err(failure(state, agent, PageError::Forbidden))
    }
}

fn failure(state: &WebState, agent: &PageAgent, error: PageError) -> PageFailure {
    PageFailure {
        error,
        chrome: Box::new(Chrome::new(state, &agent.0, "admin")),
    }
}

pub async fn page(
    State(state): State<WebState>,
    agent: PageAgent,
    Query(query): Query<NoticeQuery>,
) -> Result<AdminPage, PageFailure> {
    admin_only(&state, &agent)?;
    render(&state, &agent, query.notice.as_deref(), None)
        .await
        .map_err(|e| failure(&state, &agent, e))
}

async fn render(
    state: &WebState,
    agent: &PageAgent,
    notice: Option<&str>,
    error: Option<String>,
) -> Result<AdminPage, PageError> {
    let db = state.store.db();
    let mut chrome = Chrome::new(state, &agent.0, "admin").with_notice(notice);
    chrome.error = error;
    let title = chrome.t.admin_title;
    let chrome = chrome.titled(title);
    let agents = store::agents::list(db)
        .await?
        .into_iter()
        .map(|a| AgentRow {
            is_self: a.id == agent.0.agent.id,
            id: a.id,
            language: a
                .language
                .as_deref()
                .map(|l| chrome.label(l))
                .unwrap_or_default(),
            role: chrome.label(&a.role),
            email: a.email,
            name: a.name,
            active: a.active,
        })
        .collect();
    let departments = store::catalog::departments(db)
        .await?
        .into_iter()
        .map(|d| DepartmentRow {
            key: d.key,
            name: d.name,
        })
        .collect();
    let canned = store::catalog::canned_responses(db)
        .await?
        .into_iter()
        .map(|c| CannedRow {
            id: c.id,
            title: c.title,
            body: c.body,
            language: c
                .language
                .as_deref()
                .map(|l| chrome.label(l))
                .unwrap_or_else(|| chrome.t.both_languages.to_string()),
        })
        .collect();
    Ok(AdminPage {
        chrome,
        agents,
        departments,
        canned,
    })
}

/// The admin page again, with the problem shown (the form's input is refused, nothing saved).
async fn refused(
    state: &WebState,
    agent: &PageAgent,
    message: String,
) -> Result<Response, PageFailure> {
    use axum::response::IntoResponse;
    let page = render(state, agent, None, Some(message))
        .await
        .map_err(|e| failure(state, agent, e))?;
    Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

#[derive(Debug, Deserialize)]
pub struct AgentForm {
    email: String,
    name: String,
    password: String,
    #[serde(default)]
    language: String,
    admin: Option<String>,
}

pub async fn add_agent(
    State(state): State<WebState>,
    agent: PageAgent,
    Form(form): Form<AgentForm>,
) -> Result<Response, PageFailure> {
    admin_only(&state, &agent)?;
    let role = if form.admin.is_some() {
        AgentRole::Admin
    } else {
        AgentRole::Agent
    };
    let created = match create_agent(
        &state.store,
        state.clock.as_ref(),
        &form.email,
        &form.name,
        &form.password,
        role,
    )
    .await
    {
        Ok(created) => created,
        Err(AgentError::Invalid(message))
        | Err(AgentError::Store(StoreError::Conflict(message))) => {
            return refused(&state, &agent, message).await;
        }
        Err(other) => {
            return Err(failure(
                &state,
                &agent,
                PageError::Internal(other.to_string()),
            ));
        }
    };
    if let Some(language) = Language::parse(&form.language) {
        store::agents::set_language(state.store.db(), created.id, Some(language.as_str()))
            .await
            .map_err(|e| failure(&state, &agent, e.into()))?;
    }
    Ok(see_other("/admin", "saved"))
}

#[derive(Debug, Deserialize)]
pub struct ActiveForm {
    active: String,
}

pub async fn set_agent_active(
    State(state): State<WebState>,
    agent: PageAgent,
    Path(id): Path<i64>,
    Form(form): Form<ActiveForm>,
) -> Result<Response, PageFailure> {
    admin_only(&state, &agent)?;
    if id == agent.0.agent.id {
        return refused(&state, &agent, "You cannot deactivate yourself.".into()).await;
    }
    let active = form.active == "1";
    let db = state.store.db();
    store::agents::set_active(db, id, active)
        .await
        .map_err(|e| failure(&state, &agent, e.into()))?;
    if !active {
        store::sessions::delete_of_agent(db, id)
            .await
            .map_err(|e| failure(&state, &agent, e.into()))?;
    }
    Ok(see_other("/admin", "saved"))
}

#[derive(Debug, Deserialize)]
pub struct DepartmentForm {
    key: String,
    name: String,
}

/// A department key: lower-case ASCII letters, digits, `-` and `_`.
fn valid_department_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

pub async fn add_department(
    State(state): State<WebState>,
    agent: PageAgent,
    Form(form): Form<DepartmentForm>,
) -> Result<Response, PageFailure> {
    admin_only(&state, &agent)?;
    let key = form.key.trim().to_lowercase();
    let name = form.name.trim();
    if !valid_department_key(&key) {
        return refused(
            &state,
            &agent,
            format!("Department key {key:?}: use lower-case letters, digits, - and _."),
        )
        .await;
    }
    if name.is_empty() {
        return refused(&state, &agent, "The department needs a name.".into()).await;
    }
    store::catalog::save_department(state.store.db(), &key, name, state.clock.now())
        .await
        .map_err(|e| failure(&state, &agent, PageError::Internal(e.to_string())))?;
    Ok(see_other("/admin", "saved"))
}

#[derive(Debug, Deserialize)]
pub struct CannedForm {
    title: String,
    body: String,
    #[serde(default)]
    language: String,
}

pub async fn add_canned(
    State(state): State<WebState>,
    agent: PageAgent,
    Form(form): Form<CannedForm>,
) -> Result<Response, PageFailure> {
    admin_only(&state, &agent)?;
    let (title, body) = (form.title.trim(), form.body.trim());
    if title.is_empty() || body.is_empty() {
        return refused(
            &state,
            &agent,
            "A prepared answer needs a title and a text.".into(),
        )
        .await;
    }
    let language = Language::parse(&form.language).map(|l| l.as_str());
    store::catalog::add_canned_response(state.store.db(), title, body, language, state.clock.now())
        .await
        .map_err(|e| failure(&state, &agent, e.into()))?;
    Ok(see_other("/admin", "saved"))
}

pub async fn delete_canned(
    State(state): State<WebState>,
    agent: PageAgent,
    Path(id): Path<i64>,
) -> Result<Response, PageFailure> {
    admin_only(&state, &agent)?;
    store::catalog::delete_canned_response(state.store.db(), id)
        .await
        .map_err(|e| failure(&state, &agent, e.into()))?;
    Ok(see_other("/admin", "saved"))
}

#[cfg(test)]
mod tests {
    use super::valid_department_key;

    #[test]
    fn department_keys_are_simple() {
        assert!(valid_department_key("finance"));
        assert!(valid_department_key("tech-2"));
        assert!(!valid_department_key("Finance"));
        assert!(!valid_department_key("مالی"));
        assert!(!valid_department_key(""));
    }
}
