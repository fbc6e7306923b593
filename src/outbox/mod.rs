//! The outbox: sends approved letters, at least once and in practice exactly once.
//!
//! Each attempt is counted durably *before* the letter is handed to the transport. If the
//! process dies mid-send, the next attempt sees a count above zero and first asks the
//! transport whether that Message-ID already went out (the file exists; for SMTP, the IMAP
//! Sent folder holds it) before sending again. Temporary failures back off exponentially;
//! permanent ones (SMTP 5xx) are recorded on the case so staff can reach the resident
//! another way before the deadline.

mod file;
mod smtp;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use thiserror::Error;
use tokio::sync::watch;

use crate::config::{Loaded, MailConfig};
use crate::letters::Draft;
use crate::store::{Store, StoreError};

pub use file::FileTransport;
pub use smtp::SmtpTransport;

/// Why a letter could not be sent.
#[derive(Debug, Error)]
pub enum SendError {
    /// Worth retrying later (network, 4xx, server away).
    #[error("{0}")]
    Temporary(String),
    /// Will never succeed as it is (5xx, bad address): recorded on the case.
    #[error("{0}")]
    Permanent(String),
}

/// Where letters go.
pub enum Transport {
    File(FileTransport),
    Smtp(Box<SmtpTransport>),
}

impl Transport {
    /// The transport `mail.smtp_url` names, if any.
    pub fn from_config(loaded: &Loaded) -> Result<Option<Transport>, SendError> {
        if let Some(folder) = loaded.outbox_folder() {
            return Ok(Some(Transport::File(FileTransport::new(folder))));
        }
        match &loaded.config.mail.smtp_url {
            Some(url) => Ok(Some(Transport::Smtp(Box::new(SmtpTransport::new(
                url,
                &loaded.config.mail,
            )?)))),
            None => Ok(None),
        }
    }

    /// Sends one message whose Message-ID is `message_id` (letters and staff emails alike).
    pub async fn send(&self, message: &Message, message_id: &str) -> Result<(), SendError> {
        match self {
            Transport::File(t) => t.send(message, message_id).await,
            Transport::Smtp(t) => t.send(message).await,
        }
    }

    /// Whether the message went out already (after an interrupted attempt).
    pub async fn already_sent(&self, message_id: &str) -> Result<bool, SendError> {
        match self {
            Transport::File(t) => Ok(t.already_sent(message_id)),
            Transport::Smtp(t) => t.already_sent(message_id).await,
        }
    }
}

/// Builds the email for a draft: threaded to the resident's message, with its fixed
/// Message-ID. Staff-approved letters carry no `Auto-Submitted` header (SPEC §3).
pub fn build_message(draft: &Draft, mail: &MailConfig) -> Result<Message, SendError> {
    let to = draft
        .to
        .as_deref()
        .ok_or_else(|| SendError::Permanent("the case has no email address".into()))?;
    let mut builder = message_builder(mail, &draft.subject, &draft.message_id)?
        .to(to.parse().map_err(|e| bad("recipient", &e))?);
    if let Some(reply_to) = &mail.reply_to {
        builder = builder.reply_to(reply_to.parse().map_err(|e| bad("mail.reply_to", &e))?);
    }
    if let Some(parent) = &draft.in_reply_to {
        builder = builder.in_reply_to(parent.clone());
    }
    if !draft.references.is_empty() {
        builder = builder.references(draft.references.join(" "));
    }
    with_body(
        builder,
        &draft.body,
        draft.html.as_deref(),
        Some(&draft.reference),
    )
}

fn bad(what: &str, e: &dyn std::fmt::Display) -> SendError {
    SendError::Permanent(format!("{what}: {e}"))
}

/// The start of every email redress sends, to residents and staff alike: from `mail.from`,
/// with its subject, its fixed Message-ID and the date.
pub fn message_builder(
    mail: &MailConfig,
    subject: &str,
    message_id: &str,
) -> Result<lettre::message::MessageBuilder, SendError> {
    let from = mail
        .from
        .as_deref()
        .ok_or_else(|| SendError::Permanent("mail.from is not configured".into()))?;
    Ok(Message::builder()
        .from(from.parse().map_err(|e| bad("mail.from", &e))?)
        .subject(subject.to_owned())
        .message_id(Some(message_id.to_owned()))
        .date_now())
}

/// Finishes an email: plain text and HTML side by side (multipart/alternative), so every
/// mail program shows one of them, or plain text alone when there is no HTML (letters drafted
/// before there was HTML); tagged with the case it is about.
pub fn with_body(
    builder: lettre::message::MessageBuilder,
    text: &str,
    html: Option<&str>,
    reference: Option<&str>,
) -> Result<Message, SendError> {
    let mut message = match html {
        Some(html) => builder.multipart(lettre::message::MultiPart::alternative_plain_html(
            text.to_owned(),
            html.to_owned(),
        )),
        None => builder
            .header(ContentType::TEXT_PLAIN)
            .body(text.to_owned()),
    }
    .map_err(|e| bad("building the message", &e))?;
    if let Some(reference) = reference {
        message.headers_mut().insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Redress-Case"),
            reference.to_owned(),
        ));
    }
    Ok(message)
}

/// Backoff before retry `attempts` (1-based): 5 s doubling, at most 30 minutes.
pub fn backoff(attempts: u32) -> Duration {
    let secs = 5u64.saturating_mul(1u64 << attempts.saturating_sub(1).min(12));
    Duration::from_secs(secs.min(30 * 60))
}

/// Sends whatever is due in the outbox now. Returns how many letters went out.
pub async fn send_due(
    store: &Store,
    loaded: &Loaded,
    transport: &Transport,
    not_before: &mut HashMap<u64, Instant>,
) -> Result<usize, StoreError> {
    let mut sent = 0;
    for draft in store.outbox()? {
        if draft.to.is_none()
            || not_before
                .get(&draft.id)
                .is_some_and(|t| Instant::now() < *t)
        {
            continue; // by post (staff mark it posted), or backing off
        }
        let previously_tried = draft.attempts > 0;
        let draft = store.record_attempt(draft.id, "sending").await?;
        let outcome = match transport_result(
            transport,
            &draft,
            &loaded.config.mail,
            previously_tried,
        )
        .await
        {
            Ok(()) => {
                store
                    .mark_sent(draft.id, Utc::now(), loaded.today(), loaded.rules())
                    .await?;
                not_before.remove(&draft.id);
                sent += 1;
                continue;
            }
            Err(e) => e,
        };
        match outcome {
            SendError::Permanent(reason) => {
                tracing::error!(draft = draft.id, case = %draft.reference, %reason, "letter refused permanently");
                store
                    .mark_failed(
                        draft.id,
                        &reason,
                        Utc::now(),
                        loaded.today(),
                        loaded.rules(),
                    )
                    .await?;
            }
            SendError::Temporary(reason) => {
                tracing::warn!(draft = draft.id, case = %draft.reference, %reason, attempt = draft.attempts, "letter not sent; will retry");
                store.record_attempt_error(draft.id, &reason).await?;
                not_before.insert(draft.id, Instant::now() + backoff(draft.attempts));
            }
        }
    }
    Ok(sent)
}

async fn transport_result(
    transport: &Transport,
    draft: &Draft,
    mail: &MailConfig,
    previously_tried: bool,
) -> Result<(), SendError> {
    if previously_tried && transport.already_sent(&draft.message_id).await? {
        tracing::info!(
            draft = draft.id,
            "letter found already sent after an interrupted attempt"
        );
        return Ok(());
    }
    let message = build_message(draft, mail)?;
    transport.send(&message, &draft.message_id).await
}

/// Runs the outbox until `shutdown` turns true.
pub async fn run(
    store: Store,
    loaded: Arc<Loaded>,
    transport: Transport,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut not_before = HashMap::new();
    tracing::info!("outbox started");
    while !*shutdown.borrow() {
        if let Err(e) = send_due(&store, &loaded, &transport, &mut not_before).await {
            tracing::error!("outbox: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = shutdown.changed() => {}
        }
    }
    tracing::info!("outbox stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_five_seconds_up_to_half_an_hour() {
        assert_eq!(backoff(1), Duration::from_secs(5));
        assert_eq!(backoff(2), Duration::from_secs(10));
        assert_eq!(backoff(5), Duration::from_secs(80));
        assert_eq!(backoff(20), Duration::from_secs(1800));
        assert_eq!(backoff(u32::MAX), Duration::from_secs(1800));
    }
}
