//! The file transport (`smtp_url = "file:///folder"`): each letter is written as
//! `<message-id>.eml`, atomically (temporary file, then rename). The embedded default uses it,
//! and because the name is the letter's fixed Message-ID, "was it already sent?" is simply
//! "does the file exist?".

use std::path::{Path, PathBuf};

use lettre::Message;

use super::SendError;

pub struct FileTransport {
    folder: PathBuf,
}

impl FileTransport {
    pub fn new(folder: PathBuf) -> Self {
        FileTransport { folder }
    }

    /// The folder letters are written to.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    fn path_for(&self, message_id: &str) -> PathBuf {
        let name: String = message_id
            .trim_matches(['<', '>'])
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '@' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.folder.join(format!("{name}.eml"))
    }

    pub async fn send(&self, message: &Message, message_id: &str) -> Result<(), SendError> {
        let io = |e: std::io::Error| {
            SendError::Temporary(format!("writing to {}: {e}", self.folder.display()))
        };
        tokio::fs::create_dir_all(&self.folder).await.map_err(io)?;
        let path = self.path_for(message_id);
        let tmp = path.with_extension("eml.tmp");
        tokio::fs::write(&tmp, message.formatted())
            .await
            .map_err(io)?;
        tokio::fs::rename(&tmp, &path).await.map_err(io)?;
        Ok(())
    }

    pub fn already_sent(&self, message_id: &str) -> bool {
        self.path_for(message_id).exists()
    }
}
