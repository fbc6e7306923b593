//! IMAP: intake from the complaints mailbox, and the Sent folder the outbox copies letters to.
//!
//! - [`connect`]: the account in `mail.imap_url` (implicit TLS, STARTTLS or plain), TLS with
//!   the webpki roots plus an optional extra CA, and a timeout around every command.
//! - [`worker`]: the intake worker. Whatever is still in the mailbox is unprocessed: each
//!   message is fetched, taken in through [`super::ingest`], and only once its case change is
//!   durable moved to the processed folder (or flagged `$Processed`), or to the quarantine
//!   folder if it could not be read. A crash in between leaves it in place, and taking it in
//!   again finds it already seen. Between passes the worker IDLEs.
//! - [`session`]: a logged-in connection and the commands intake and the outbox use.
//! - [`sent`]: the Sent folder, where the outbox keeps a copy of each letter and looks for a
//!   Message-ID after an interrupted send.

pub mod connect;
pub mod sent;
pub mod session;
pub mod worker;

use std::time::Duration;

use thiserror::Error;

use crate::store::StoreError;

pub use connect::{Account, install_crypto};
pub use sent::SentFolder;
pub use worker::run;

/// Every IMAP command but IDLE must answer within this time (fetching a big message is given
/// longer, in proportion to its size), or the connection is dropped and made again: a server
/// that stops answering must not stall intake forever.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// The keyword set on a message taken in when `after_processing = "flag"`.
pub const PROCESSED_KEYWORD: &str = "$Processed";

/// What went wrong talking to the IMAP server.
#[derive(Debug, Error)]
pub enum ImapError {
    /// `mail.imap_url` (or the password) cannot be used as it is.
    #[error("mail.imap_url: {0}")]
    Config(String),
    /// The extra CA file cannot be read or holds no certificate.
    #[error("the CA file {path} (mail.ca_file): {why}")]
    CaFile { path: String, why: String },
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS with {host}: {source}")]
    Tls {
        host: String,
        source: std::io::Error,
    },
    #[error("the server refused the login of {user}: {why}")]
    Login { user: String, why: String },
    /// The server did not answer in time ([`COMMAND_TIMEOUT`], longer for big messages).
    #[error("the IMAP server did not answer {command} within {secs} s")]
    Timeout { command: &'static str, secs: u64 },
    #[error("IMAP {command}: {source}")]
    Imap {
        command: &'static str,
        source: async_imap::error::Error,
    },
    /// The server answered something the client cannot use.
    #[error("IMAP {command}: {why}")]
    Protocol { command: &'static str, why: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Taking a message in failed (the store, or rules that cannot be built); the message
    /// stays where it is and is offered again.
    #[error(transparent)]
    Intake(#[from] crate::intake::IntakeError),
}

impl ImapError {
    /// A plain NO from the server: the command was understood and refused, the connection is
    /// still good.
    pub fn is_no(&self) -> bool {
        matches!(
            self,
            ImapError::Imap {
                source: async_imap::error::Error::No(_),
                ..
            }
        )
    }
}

/// Quotes a string for an IMAP command (RFC 3501 quoted string). Line breaks, which a quoted
/// string cannot hold, are dropped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars().filter(|c| !matches!(c, '\r' | '\n' | '\0')) {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_quotes_and_backslashes_and_drops_line_breaks() {
        assert_eq!(quote("Processed"), "\"Processed\"");
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quote("x\r\ny"), "\"xy\"");
    }
}
