//! Agents: creating them with argon2id password hashes, and the first admin.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use rand::Rng;

use crate::clock::Clock;
use crate::domain::contact::EmailAddress;
use crate::store::agents::Agent;
use crate::store::{self, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentRole {
    Admin,
    Agent,
}

impl AgentRole {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentRole::Admin => "admin",
            AgentRole::Agent => "agent",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Minimum password length for agents.
pub const MIN_PASSWORD_CHARS: usize = 10;

pub fn hash_password(password: &str) -> Result<String, AgentError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AgentError::Hash(e.to_string()))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

pub async fn add_agent(
    store: &Store,
    clock: &dyn Clock,
    email: &str,
    name: &str,
    password: &str,
    role: AgentRole,
) -> Result<Agent, AgentError> {
    let email = EmailAddress::parse(email).map_err(|e| AgentError::Invalid(e.to_string()))?;
    if name.trim().is_empty() {
        return Err(AgentError::Invalid("the agent's name is empty".into()));
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AgentError::Invalid(format!(
            "the password needs at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    let hash = hash_password(password)?;
    Ok(store::agents::create(
        store.db(),
        email.as_str(),
        name.trim(),
        &hash,
        role.as_str(),
        clock.now(),
    )
    .await?)
}

/// A random password of 20 characters from an alphabet without look-alikes.
pub fn one_time_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// When no agent exists yet, creates `admin@<domain>` with a one-time password and returns both.
pub async fn ensure_first_admin(
    store: &Store,
    clock: &dyn Clock,
    domain: &str,
) -> Result<Option<(String, String)>, AgentError> {
    if store::agents::count(store.db())
        .await
        .map_err(StoreError::from)?
        > 0
    {
        return Ok(None);
    }
    let email = format!("admin@{domain}");
    let password = one_time_password();
    add_agent(
        store,
        clock,
        &email,
        "Administrator",
        &password,
        AgentRole::Admin,
    )
    .await?;
    Ok(Some((email, password)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse battery").unwrap_or_default();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("wrong horse battery", &hash));
    }

    #[test]
    fn one_time_passwords_are_long_and_differ() {
        let a = one_time_password();
        assert_eq!(a.len(), 20);
        assert_ne!(a, one_time_password());
    }
}
