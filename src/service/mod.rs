//! Agent-side writes (agents now; replies, notes and status changes next) for web/ and the commands.

pub mod agents;
pub mod inbound;
pub mod replies;
pub mod tickets;
