//! The IMAP Sent folder: the outbox appends each letter it sent (marked \Seen), and after an
//! interrupted send looks for the letter's Message-ID there before sending it again. Each call
//! uses a connection of its own: letters are few, and a long-lived second session would only
//! be one more thing to keep alive.

use super::session::Connection;
use super::{Account, ImapError, quote};
use crate::config::MailConfig;

/// The Sent folder of the account in `mail.imap_url`.
#[derive(Clone, Debug)]
pub struct SentFolder {
    account: Account,
    folder: String,
}

impl SentFolder {
    /// The Sent folder of the account in `mail.imap_url`, if IMAP is configured (and the URL
    /// usable: a bad one is reported by the intake worker and the configuration check).
    pub fn from_config(mail: &MailConfig) -> Option<SentFolder> {
        match Account::from_config(mail) {
            Ok(Some(account)) => Some(SentFolder {
                account,
                folder: mail.sent_folder.clone(),
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!("no Sent folder copies: {e}");
                None
            }
        }
    }

    /// The folder's name.
    pub fn folder(&self) -> &str {
        &self.folder
    }

    /// Appends a sent letter, marked \Seen. Creates the folder if missing.
    pub async fn append(&self, raw: &[u8]) -> Result<(), ImapError> {
        let mut conn = self.account.connect().await?;
        let result = async {
            conn.ensure_folder(&self.folder).await?;
            conn.append(&self.folder, "(\\Seen)", raw).await
        }
        .await;
        conn.logout().await;
        result
    }

    /// Whether a letter with this Message-ID (with or without its angle brackets) is in the
    /// folder. A folder that does not exist holds nothing.
    pub async fn contains(&self, message_id: &str) -> Result<bool, ImapError> {
        let id = message_id
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>');
        if id.is_empty() {
            return Ok(false);
        }
        let mut conn = self.account.connect().await?;
        let result = self.search(&mut conn, id).await;
        conn.logout().await;
        result
    }

    async fn search(&self, conn: &mut Connection, id: &str) -> Result<bool, ImapError> {
        match conn.examine(&self.folder).await {
            Ok(_) => {}
            Err(e) if e.is_no() => return Ok(false),
            Err(e) => return Err(e),
        }
        let query = format!("HEADER Message-ID {}", quote(&format!("<{id}>")));
        Ok(!conn.uid_search(&query).await?.is_empty())
    }
}
