//! Integration tests: one binary, each test run on SQLite and, when PEYK_TEST_DATABASE_URL is
//! set, again on PostgreSQL, each time in a database of its own.

mod api;
mod bad_input;
mod browser;
mod classify;
mod corpus;
mod dovecot;
mod harness;
mod imap;
mod import_fixtures;
mod intake;
mod outbound;
mod serve;
mod sms;
mod smtp;
mod web;
