//! Reaching the IMAP account: the URL, TLS, and a logged-in session.
//!
//! `imaps://user@host:993/INBOX` is implicit TLS, `imap://user@host:143/INBOX` plain (for a
//! server on the same host), `imap://user@host/INBOX?tls=starttls` upgrades the plain
//! connection before logging in. Certificates are checked against the webpki roots, plus the
//! CA in the PEM file named by `mail.ca_file` if set (a private CA, or a test server's).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_imap::{Client, Session};
use percent_encoding::percent_decode_str;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::session::{Connection, timed};
use super::{COMMAND_TIMEOUT, ImapError};
use crate::config::MailConfig;

/// Installs the process's rustls crypto provider (aws-lc-rs). Harmless if one is installed.
pub fn install_crypto() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The PEM bytes of the extra CA file (`mail.ca_file`), if one is configured.
pub fn extra_ca_pem(ca_file: Option<&Path>) -> Result<Option<Vec<u8>>, ImapError> {
    let Some(path) = ca_file else {
        return Ok(None);
    };
    let shown = path.display().to_string();
    std::fs::read(path)
        .map(Some)
        .map_err(|e| ImapError::CaFile {
            path: shown,
            why: e.to_string(),
        })
}

/// The roots a server certificate is checked against: webpki's, plus the extra CA file.
pub fn root_store(ca_file: Option<&Path>) -> Result<RootCertStore, ImapError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = extra_ca_pem(ca_file)? {
        let path = ca_file.map(|p| p.display().to_string()).unwrap_or_default();
        let bad = |why: String| ImapError::CaFile {
            path: path.clone(),
            why,
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| bad(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad("it holds no PEM certificate".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
        }
    }
    Ok(roots)
}

fn tls_connector(ca_file: Option<&Path>) -> Result<TlsConnector, ImapError> {
    install_crypto();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(root_store(ca_file)?)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// How the connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (`imaps://`, port 993).
    Implicit,
    /// Plain, then STARTTLS before the login (`imap://…?tls=starttls`).
    StartTls,
    /// No TLS (`imap://`): only for a server on the same host or a trusted network.
    Plain,
}

/// One IMAP account and mailbox, from `mail.imap_url` and `mail.imap_password`.
#[derive(Clone)]
pub struct Account {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub user: String,
    password: String,
    /// The mailbox the URL names (`INBOX` if none).
    pub mailbox: String,
    /// Extra CA certificates to trust (`mail.ca_file`), besides the webpki roots.
    pub ca_file: Option<PathBuf>,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.user)
            .field("mailbox", &self.mailbox)
            .finish_non_exhaustive()
    }
}

impl Account {
    /// The account `mail.imap_url` names; `None` if IMAP is not configured.
    pub fn from_config(mail: &MailConfig) -> Result<Option<Account>, ImapError> {
        match &mail.imap_url {
            Some(url) => {
                let mut account =
                    Account::parse(url, mail.imap_password.as_deref().unwrap_or_default())?;
                account.ca_file = mail.ca_file.clone();
                Ok(Some(account))
            }
            None => Ok(None),
        }
    }

    /// Reads an `imap://` or `imaps://` URL.
    pub fn parse(url: &str, password: &str) -> Result<Account, ImapError> {
        let bad = |why: &str| ImapError::Config(format!("`{url}`: {why}"));
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        let tls = parsed
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let security = match (parsed.scheme(), tls.as_deref()) {
            ("imaps", None | Some("implicit")) => Security::Implicit,
            ("imap", Some("starttls")) => Security::StartTls,
            ("imap", None | Some("none")) => Security::Plain,
            ("imap" | "imaps", Some(other)) => {
                return Err(bad(&format!(
                    "unknown tls={other}: use tls=starttls, or imaps:// for implicit TLS"
                )));
            }
            (other, _) => {
                return Err(bad(&format!(
                    "unsupported scheme {other}: use imap:// or imaps://"
                )));
            }
        };
        let host = match parsed.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(bad("no host")),
        };
        let user = percent_decode_str(parsed.username())
            .decode_utf8_lossy()
            .into_owned();
        if user.is_empty() {
            return Err(bad("no user: write imaps://user@host:993/INBOX"));
        }
        let path = percent_decode_str(parsed.path().trim_start_matches('/'))
            .decode_utf8_lossy()
            .into_owned();
        Ok(Account {
            port: parsed.port().unwrap_or(if security == Security::Implicit {
                993
            } else {
                143
            }),
            host,
            security,
            user,
            password: password.to_owned(),
            ca_file: None,
            mailbox: if path.is_empty() {
                "INBOX".to_owned()
            } else {
                path
            },
        })
    }

    /// `host:port`, for messages.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Connects, protects the connection as the URL says, and logs in.
    pub async fn connect(&self) -> Result<Connection, ImapError> {
        let addr = self.address();
        let tcp = tokio::time::timeout(
            COMMAND_TIMEOUT,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| ImapError::Timeout {
            command: "connect",
            secs: COMMAND_TIMEOUT.as_secs(),
        })?
        .map_err(|source| ImapError::Connect {
            addr: addr.clone(),
            source,
        })?;
        let _ = tcp.set_nodelay(true);
        let stream = match self.security {
            Security::Implicit => self.tls(tcp).await?,
            Security::Plain | Security::StartTls => MailStream::Plain(tcp),
        };
        let mut client = Client::new(stream);
        greeting(&mut client).await?;
        if self.security == Security::StartTls {
            timed(
                "STARTTLS",
                client.run_command_and_check_ok("STARTTLS", None),
            )
            .await?;
            let MailStream::Plain(tcp) = client.into_inner() else {
                unreachable!("STARTTLS is only sent on a plain connection")
            };
            client = Client::new(self.tls(tcp).await?);
        }
        let session =
            match tokio::time::timeout(COMMAND_TIMEOUT, client.login(&self.user, &self.password))
                .await
            {
                Err(_) => {
                    return Err(ImapError::Timeout {
                        command: "LOGIN",
                        secs: COMMAND_TIMEOUT.as_secs(),
                    });
                }
                Ok(Err((e, _))) => {
                    return Err(ImapError::Login {
                        user: self.user.clone(),
                        why: e.to_string(),
                    });
                }
                Ok(Ok(session)) => session,
            };
        Connection::new(session).await
    }

    async fn tls(&self, tcp: TcpStream) -> Result<MailStream, ImapError> {
        let name = ServerName::try_from(self.host.clone()).map_err(|e| ImapError::Tls {
            host: self.host.clone(),
            source: io::Error::new(io::ErrorKind::InvalidInput, e),
        })?;
        let tls = tokio::time::timeout(
            COMMAND_TIMEOUT,
            tls_connector(self.ca_file.as_deref())?.connect(name, tcp),
        )
        .await
        .map_err(|_| ImapError::Timeout {
            command: "TLS handshake",
            secs: COMMAND_TIMEOUT.as_secs(),
        })?
        .map_err(|source| ImapError::Tls {
            host: self.host.clone(),
            source,
        })?;
        Ok(MailStream::Tls(Box::new(tls)))
    }
}

/// Reads the server's greeting; a `BYE` (server busy or refusing) is an error.
async fn greeting(client: &mut Client<MailStream>) -> Result<(), ImapError> {
    let response = tokio::time::timeout(COMMAND_TIMEOUT, client.read_response())
        .await
        .map_err(|_| ImapError::Timeout {
            command: "greeting",
            secs: COMMAND_TIMEOUT.as_secs(),
        })?
        .map_err(|e| ImapError::Imap {
            command: "greeting",
            source: e.into(),
        })?
        .ok_or(ImapError::Imap {
            command: "greeting",
            source: async_imap::error::Error::ConnectionLost,
        })?;
    use async_imap::imap_proto::{Response, Status};
    match response.parsed() {
        Response::Data {
            status: Status::Ok | Status::PreAuth,
            ..
        } => Ok(()),
        other => Err(ImapError::Protocol {
            command: "greeting",
            why: format!("the server greeted with {other:?}"),
        }),
    }
}

/// A connection to the server, plain or TLS.
pub enum MailStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl fmt::Debug for MailStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MailStream::Plain(_) => "MailStream::Plain",
            MailStream::Tls(_) => "MailStream::Tls",
        })
    }
}

impl AsyncRead for MailStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MailStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MailStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MailStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MailStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MailStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MailStream::Plain(s) => Pin::new(s).poll_flush(cx),
            MailStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MailStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MailStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The session type every IMAP command here runs on.
pub type ImapSession = Session<MailStream>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imaps_url_is_implicit_tls_on_993_with_the_user_decoded() {
        let a = Account::parse(
            "imaps://complaints%40example.org@mail.example.org/INBOX",
            "pw",
        )
        .unwrap();
        assert_eq!(a.security, Security::Implicit);
        assert_eq!(a.port, 993);
        assert_eq!(a.host, "mail.example.org");
        assert_eq!(a.user, "complaints@example.org");
        assert_eq!(a.mailbox, "INBOX");
    }

    #[test]
    fn imap_url_is_plain_on_143_and_starttls_when_asked() {
        let a = Account::parse("imap://u@127.0.0.1", "pw").unwrap();
        assert_eq!(
            (a.security, a.port, a.mailbox.as_str()),
            (Security::Plain, 143, "INBOX")
        );
        let b = Account::parse("imap://u@host:10143/Complaints%20In?tls=starttls", "pw").unwrap();
        assert_eq!(
            (b.security, b.port, b.mailbox.as_str()),
            (Security::StartTls, 10143, "Complaints In")
        );
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let no_user = Account::parse("imaps://host/INBOX", "pw")
            .unwrap_err()
            .to_string();
        assert!(no_user.contains("no user"), "{no_user}");
        let scheme = Account::parse("pop3://u@host/", "pw")
            .unwrap_err()
            .to_string();
        assert!(scheme.contains("unsupported scheme pop3"), "{scheme}");
        let tls = Account::parse("imap://u@host/?tls=maybe", "pw")
            .unwrap_err()
            .to_string();
        assert!(tls.contains("unknown tls=maybe"), "{tls}");
    }

    #[test]
    fn ipv6_hosts_are_bracketed_in_addresses_only() {
        let a = Account::parse("imap://u@[::1]:10143/INBOX", "pw").unwrap();
        assert_eq!(a.host, "::1");
        assert_eq!(a.address(), "[::1]:10143");
    }

    #[test]
    fn the_password_is_not_in_debug_output() {
        let a = Account::parse("imap://u@host/INBOX", "hunter2").unwrap();
        assert!(!format!("{a:?}").contains("hunter2"));
    }
}
