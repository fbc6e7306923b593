//! Posting alerts to a Slack or Microsoft Teams incoming webhook.
//!
//! One call is one attempt; the notifier keeps the delivery state in the store and retries
//! with backoff, so a restart in the middle of a chat outage neither drops nor repeats a post
//! that was accepted. Slack takes `{"text": …}`; a Teams channel workflow ("when a webhook
//! request is received", which replaced the retired Office 365 connectors) takes a message
//! with an Adaptive Card attachment.

use std::time::Duration;

use serde_json::{Value, json};

use crate::config::ChatKind;
use crate::outbox::SendError;

/// How long one post may take before it counts as a temporary failure.
const TIMEOUT: Duration = Duration::from_secs(15);

/// A configured chat webhook.
#[derive(Clone, Debug)]
pub struct ChatWebhook {
    url: String,
    kind: ChatKind,
    client: reqwest::Client,
}

impl ChatWebhook {
    pub fn new(url: &str, kind: ChatKind) -> Result<Self, SendError> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("redress/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SendError::Permanent(format!("chat webhook client: {e}")))?;
        Ok(ChatWebhook {
            url: url.to_owned(),
            kind,
            client,
        })
    }

    /// The JSON body for a post with this title and text.
    pub fn payload(&self, title: &str, text: &str) -> Value {
        payload(self.kind, title, text)
    }

    /// One attempt. Network errors, timeouts, 429 and 5xx are temporary; any other refusal
    /// (a wrong or revoked URL, a malformed payload) is permanent and says what came back.
    pub async fn post(&self, title: &str, text: &str) -> Result<(), SendError> {
        let response = self
            .client
            .post(&self.url)
            .json(&self.payload(title, text))
            .send()
            .await
            .map_err(|e| SendError::Temporary(format!("chat webhook: {e}")))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        let why = format!("chat webhook answered {status}: {}", body.trim());
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            Err(SendError::Temporary(why))
        } else {
            Err(SendError::Permanent(why))
        }
    }
}

/// The body each service expects.
pub fn payload(kind: ChatKind, title: &str, text: &str) -> Value {
    match kind {
        ChatKind::Slack => json!({ "text": format!("*{title}*\n{text}") }),
        ChatKind::Teams => json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        { "type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": true },
                        { "type": "TextBlock", "text": text, "wrap": true }
                    ]
                }
            }]
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_gets_text_and_teams_gets_an_adaptive_card() {
        let slack = payload(
            ChatKind::Slack,
            "EH-2026-00001 breached",
            "Acknowledgement late",
        );
        assert_eq!(
            slack["text"],
            "*EH-2026-00001 breached*\nAcknowledgement late"
        );
        let teams = payload(
            ChatKind::Teams,
            "EH-2026-00001 breached",
            "Acknowledgement late",
        );
        let card = &teams["attachments"][0];
        assert_eq!(
            card["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(card["content"]["type"], "AdaptiveCard");
        assert_eq!(card["content"]["body"][0]["text"], "EH-2026-00001 breached");
        assert_eq!(card["content"]["body"][1]["text"], "Acknowledgement late");
    }
}
