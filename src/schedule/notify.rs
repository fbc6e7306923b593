//! Delivering notifications to staff: email through the same transport as letters, and the
//! chat webhook.
//!
//! Each channel's attempt is counted in the store before it is made and its success recorded
//! after, so a delivery is never repeated once recorded. An email attempt after an
//! interrupted one first asks the transport whether its fixed Message-ID already went out
//! (the file exists; the IMAP Sent folder holds it). Temporary failures back off
//! exponentially; permanent ones are recorded and given up on, with an error in the log.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use tokio::sync::watch;

use super::chat::ChatWebhook;
use crate::config::{Loaded, MailConfig};
use crate::outbox::{self, SendError, Transport};
use crate::store::{Delivery, Notification, Store, StoreError};

/// A channel a notification goes out on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Channel {
    Email,
    Chat,
}

/// Delivers pending notifications.
pub struct Notifier {
    store: Store,
    mail: MailConfig,
    transport: Option<Transport>,
    chat: Option<ChatWebhook>,
    /// The first retry waits this long, doubling up to 30 minutes.
    retry_base: Duration,
    not_before: HashMap<(u64, Channel), Instant>,
}

impl Notifier {
    /// A notifier for the configured transport and chat webhook. `retry_base` is the first
    /// backoff (the daemon uses 5 seconds).
    pub fn new(
        store: Store,
        loaded: &Loaded,
        transport: Option<Transport>,
        retry_base: Duration,
    ) -> Result<Notifier, SendError> {
        let s = &loaded.config.schedule;
        let chat = match &s.chat_url {
            Some(url) => Some(ChatWebhook::new(url, s.chat_kind)?),
            None => None,
        };
        Ok(Notifier {
            store,
            mail: loaded.config.mail.clone(),
            transport,
            chat,
            retry_base,
            not_before: HashMap::new(),
        })
    }

    fn backoff(&self, attempts: u32) -> Duration {
        let factor = 1u32 << attempts.saturating_sub(1).min(16);
        self.retry_base
            .saturating_mul(factor)
            .min(Duration::from_secs(30 * 60))
    }

    fn waiting(&self, id: u64, channel: Channel) -> bool {
        self.not_before
            .get(&(id, channel))
            .is_some_and(|t| Instant::now() < *t)
    }

    /// One pass over the pending notifications. Returns how many deliveries succeeded.
    pub async fn deliver_due(&mut self) -> Result<usize, StoreError> {
        let mut delivered = 0;
        for mut n in self.store.pending_notifications()? {
            if !n.email.finished() && !self.waiting(n.id, Channel::Email) {
                delivered += usize::from(self.email(&mut n).await?);
            }
            let chat_due = n.chat.as_ref().is_some_and(|c| !c.finished());
            if chat_due && !self.waiting(n.id, Channel::Chat) {
                delivered += usize::from(self.post(&mut n).await?);
            }
        }
        Ok(delivered)
    }

    async fn email(&mut self, n: &mut Notification) -> Result<bool, StoreError> {
        if n.note.to.is_empty() {
            n.email.failed = Some("nobody to send it to".to_owned());
            self.store.save_notification(n).await?;
            return Ok(false);
        }
        let Some(transport) = &self.transport else {
            // No mail.smtp_url: it waits, like the letters.
            return Ok(false);
        };
        let previously_tried = n.email.attempts > 0;
        n.email.attempts += 1;
        self.store.save_notification(n).await?;
        let result = async {
            if previously_tried && transport.already_sent(&n.note.message_id).await? {
                return Ok(());
            }
            let message = staff_message(n, &self.mail)?;
            transport.send(&message, &n.note.message_id).await
        }
        .await;
        let ok = self.settle(n.id, Channel::Email, &mut n.email, result);
        self.store.save_notification(n).await?;
        crate::metrics::notification("email", ok);
        Ok(ok)
    }

    async fn post(&mut self, n: &mut Notification) -> Result<bool, StoreError> {
        let text = chat_text(n);
        let (id, subject) = (n.id, n.note.subject.clone());
        let Some(delivery) = n.chat.as_mut() else {
            return Ok(false);
        };
        let Some(chat) = &self.chat else {
            delivery.failed = Some("no chat webhook is configured any more".to_owned());
            self.store.save_notification(n).await?;
            return Ok(false);
        };
        delivery.attempts += 1;
        let result = chat.post(&subject, &text).await;
        let ok = self.settle(id, Channel::Chat, delivery, result);
        self.store.save_notification(n).await?;
        crate::metrics::notification("chat", ok);
        Ok(ok)
    }

    /// Records an attempt's outcome on the delivery; true when it was delivered.
    fn settle(
        &mut self,
        id: u64,
        channel: Channel,
        delivery: &mut Delivery,
        result: Result<(), SendError>,
    ) -> bool {
        let attempts = delivery.attempts;
        match result {
            Ok(()) => {
                delivery.delivered_at = Some(Utc::now());
                delivery.last_error = None;
                self.not_before.remove(&(id, channel));
                true
            }
            Err(SendError::Permanent(why)) => {
                tracing::error!(notification = id, ?channel, %why, "staff notification refused; not retried");
                delivery.failed = Some(why);
                false
            }
            Err(SendError::Temporary(why)) => {
                tracing::warn!(notification = id, ?channel, %why, attempts, "staff notification not delivered; will retry");
                delivery.last_error = Some(why);
                self.not_before
                    .insert((id, channel), Instant::now() + self.backoff(attempts));
                false
            }
        }
    }
}

/// The chat text: the email's body without its greeting and signature (the chat is the
/// team's, not one person's).
fn chat_text(n: &Notification) -> String {
    let paragraphs: Vec<&str> = n
        .note
        .body
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.starts_with("Dear ") && !p.starts_with("redress, for "))
        .collect();
    if paragraphs.is_empty() {
        n.note.body.trim().to_owned()
    } else {
        paragraphs.join("\n\n")
    }
}

/// The email to staff: automatic (RFC 3834 `Auto-Submitted: auto-generated`, so nobody's
/// out-of-office answers it), plain text and HTML.
pub fn staff_message(n: &Notification, mail: &MailConfig) -> Result<Message, SendError> {
    let mut builder = outbox::message_builder(mail, &n.note.subject, &n.note.message_id)?;
    for to in &n.note.to {
        let to = to
            .parse()
            .map_err(|e| SendError::Permanent(format!("recipient: {e}")))?;
        builder = builder.to(to);
    }
    let mut message = outbox::with_body(
        builder,
        &n.note.body,
        n.note.html.as_deref(),
        n.note.reference.as_deref(),
    )?;
    message.headers_mut().insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str("Auto-Submitted"),
        "auto-generated".to_owned(),
    ));
    Ok(message)
}

/// Runs the notifier until `shutdown` turns true.
pub async fn run(mut notifier: Notifier, mut shutdown: watch::Receiver<bool>) {
    tracing::info!("notifier started");
    while !*shutdown.borrow() {
        if let Err(e) = notifier.deliver_due().await {
            tracing::error!("notifier: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = shutdown.changed() => {}
        }
    }
    tracing::info!("notifier stopped");
}
