//! Email as data: parsing raw RFC 5322 messages, spotting automatic mail, finding threads.
//!
//! Pure functions over bytes, kept apart from the IMAP/Maildir adapters that fetch the bytes
//! and from the intake pipeline that decides what a message means. Any input — broken MIME,
//! unknown charsets, NUL bytes, no headers at all — gives a [`ParsedMail`] or a [`ParseError`]
//! that says why, never a panic.

mod loops;
mod parse;
mod thread;

pub use loops::automated_reason;
pub use parse::{Attachment, Mailbox, ParseError, ParsedMail, content_hash, parse};
pub use thread::{find_reference, normalise_message_id};
