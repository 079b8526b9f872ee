//! Channels out. For now: rendering notifications at enqueue time, so a retry sends the same bytes.

pub mod render;
