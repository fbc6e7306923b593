//! SMTP through lettre with rustls: `smtps://` (implicit TLS, port 465), `smtp://` (STARTTLS
//! required, port 587), or `smtp://…?tls=none` (plain, port 25, for a relay on the same host).
//! Certificates are checked against the webpki roots plus the CA file named by
//! `mail.ca_file`, as for IMAP.
//!
//! A reply of 5xx is permanent (the letter is recorded as failed on the case); anything else —
//! 4xx, a refused connection, a timeout — is temporary and retried with backoff.

use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::SendError;
use crate::config::MailConfig;
use crate::intake::imap::{self, SentFolder};

/// How long one SMTP exchange may take before it counts as a temporary failure.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

pub struct SmtpTransport {
    inner: AsyncSmtpTransport<Tokio1Executor>,
    /// Where a copy of each letter is kept and looked for after an interrupted send.
    pub sent: Option<SentFolder>,
}

/// TLS settings for `host`: webpki roots plus the extra CA file, if any.
fn tls_parameters(host: &str, ca_file: Option<&std::path::Path>) -> Result<TlsParameters, String> {
    imap::install_crypto();
    let mut builder = TlsParameters::builder(host.to_owned());
    if let Some(pem) = imap::connect::extra_ca_pem(ca_file).map_err(|e| e.to_string())? {
        let ca = Certificate::from_pem(&pem).map_err(|e| format!("mail.ca_file: {e}"))?;
        builder = builder.add_root_certificate(ca);
    }
    builder.build_rustls().map_err(|e| e.to_string())
}

impl SmtpTransport {
    pub fn new(url: &str, mail: &MailConfig) -> Result<Self, SendError> {
        let bad = |why: String| SendError::Permanent(format!("mail.smtp_url `{url}`: {why}"));
        let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        let host = parsed.host_str().ok_or_else(|| bad("no host".into()))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let tls_none = match parsed
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned())
        {
            None => false,
            Some(v) if v == "none" => true,
            Some(other) => {
                return Err(bad(format!(
                    "unknown tls={other}: the only choice is tls=none"
                )));
            }
        };
        let (tls, default_port) = match (parsed.scheme(), tls_none) {
            ("smtps", false) => (
                Tls::Wrapper(tls_parameters(&host, mail.ca_file.as_deref()).map_err(bad)?),
                465,
            ),
            ("smtp", false) => (
                Tls::Required(tls_parameters(&host, mail.ca_file.as_deref()).map_err(bad)?),
                587,
            ),
            ("smtp", true) => (Tls::None, 25),
            ("smtps", true) => {
                return Err(bad("smtps:// is TLS: drop tls=none, or use smtp://".into()));
            }
            (other, _) => return Err(bad(format!("unsupported scheme {other}"))),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
            .tls(tls)
            .port(parsed.port().unwrap_or(default_port))
            .timeout(Some(SMTP_TIMEOUT));
        if !parsed.username().is_empty() {
            let user = percent_encoding::percent_decode_str(parsed.username())
                .decode_utf8_lossy()
                .into_owned();
            builder = builder.credentials(Credentials::new(
                user,
                mail.smtp_password.clone().unwrap_or_default(),
            ));
        }
        Ok(SmtpTransport {
            inner: builder.build(),
            sent: SentFolder::from_config(mail),
        })
    }

    /// Hands the letter to the SMTP server, then keeps a copy in the Sent folder.
    pub async fn send(&self, message: &Message) -> Result<(), SendError> {
        match self.inner.send(message.clone()).await {
            Ok(_) => {}
            Err(e) if e.is_permanent() => return Err(SendError::Permanent(e.to_string())),
            Err(e) => return Err(SendError::Temporary(e.to_string())),
        }
        if let Some(sent) = &self.sent
            && let Err(e) = sent.append(&message.formatted()).await
        {
            // The letter went out; a missing Sent copy is worth a warning, not a resend.
            tracing::warn!("letter sent but not copied to the Sent folder: {e}");
        }
        Ok(())
    }

    /// Whether the letter is already in the Sent folder (after an interrupted send).
    pub async fn already_sent(&self, message_id: &str) -> Result<bool, SendError> {
        match &self.sent {
            Some(sent) => sent
                .contains(message_id)
                .await
                .map_err(|e| SendError::Temporary(format!("searching the Sent folder: {e}"))),
            None => Ok(false),
        }
    }
}
