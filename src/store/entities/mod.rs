//! Table entities. Only `store/` names them.

pub mod agent;
pub mod attachment;
pub mod canned_response;
pub mod customer;
pub mod department;
pub mod inbound_receipt;
pub mod mailbox_state;
pub mod message;
pub mod outbox_item;
pub mod session;
pub mod ticket;
pub mod ticket_event;
