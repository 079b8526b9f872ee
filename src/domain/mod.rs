//! Pure rules every stage shares. No sea_orm, axum, lettre, tokio here: only values and decisions.

pub mod classify;
pub mod contact;
pub mod digits;
pub mod jalali;
pub mod message;
pub mod quotes;
pub mod threading;
pub mod ticket;
pub mod ticket_number;
