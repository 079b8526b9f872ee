//! Peyk: channels in → intake → store → outbox → channels out.
//!
//! A support-ticket gateway: customers email a support mailbox or text a service number; each
//! message becomes a new ticket or a reply threaded into the right one, is stored with the
//! notifications it causes in one transaction, and agents answer from a small web view.

pub mod app;
pub mod clock;
pub mod config;
pub mod domain;
pub mod import;
pub mod inbound;
pub mod intake;
pub mod outbound;
pub mod service;
pub mod store;
pub mod web;
