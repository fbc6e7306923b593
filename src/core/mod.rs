//! The pure core: everything the Complaint Handling Code demands, with no I/O.
//!
//! Adapters (store, CLI, and later intake, outbox and web) call into this; nothing here calls
//! out. That keeps every Code rule testable with plain values.

pub mod alerts;
pub mod calendar;
pub mod code;
pub mod event;
pub mod model;
pub mod workflow;
