//! Raw message → [`ParsedMail`], via mail-parser (any charset, encoded words, HTML-only
//! bodies turned into text, attachments listed).

use chrono::{DateTime, Utc};
use mail_parser::{Address, MessageParser, MimeHeaders};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::thread::normalise_message_id;

/// A sender or recipient.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    pub name: Option<String>,
    /// Lower-cased: mailbox names are compared case-insensitively in practice.
    pub address: String,
}

/// An attachment, described; its bytes stay in the raw message kept by the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub name: Option<String>,
    pub content_type: String,
    pub size: usize,
}

/// What redress needs from an email.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedMail {
    /// `<id@host>`, normalised; `None` when the message has none.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    pub subject: String,
    pub date: Option<DateTime<Utc>>,
    /// Plain-text body (HTML-only messages converted), as the resident wrote it.
    pub text: String,
    pub attachments: Vec<Attachment>,
    /// Header name/value pairs the loop checks read, lower-case names.
    pub headers: Vec<(String, String)>,
}

/// Why a message could not be read as an email from someone.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("the message is empty")]
    Empty,
    #[error("the message is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("the message has no readable headers")]
    NoHeaders,
    #[error("the message has no sender address (From)")]
    NoSender,
}

/// SHA-256 of the raw bytes, hex: the content half of deduplication (senders reuse
/// Message-IDs, so the id alone is not enough).
pub fn content_hash(raw: &[u8]) -> String {
    hex::encode(Sha256::digest(raw))
}

/// Parses a raw message. `limit` is the largest message accepted, in bytes.
pub fn parse(raw: &[u8], limit: usize) -> Result<ParsedMail, ParseError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Empty);
    }
    if raw.len() > limit {
        return Err(ParseError::TooLarge {
            size: raw.len(),
            limit,
        });
    }
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(ParseError::NoHeaders)?;
    if message.headers().is_empty() {
        return Err(ParseError::NoHeaders);
    }
    let from = first_mailbox(message.from())
        .or_else(|| first_mailbox(message.sender()))
        .ok_or(ParseError::NoSender)?;
    let headers = message
        .headers_raw()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let text = message
        .body_text(0)
        .map(|t| t.replace('\0', ""))
        .unwrap_or_default();
    let attachments = message
        .attachments()
        .map(|part| Attachment {
            name: part.attachment_name().map(str::to_owned),
            content_type: part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{sub}", ct.ctype()),
                    None => ct.ctype().to_owned(),
                })
                .unwrap_or_else(|| "application/octet-stream".to_owned()),
            size: part.len(),
        })
        .collect();
    Ok(ParsedMail {
        message_id: message.message_id().and_then(normalise_message_id),
        in_reply_to: id_list(
            message.in_reply_to().as_text_list(),
            message.in_reply_to().as_text(),
        ),
        references: id_list(
            message.references().as_text_list(),
            message.references().as_text(),
        ),
        from,
        reply_to: first_mailbox(message.reply_to()),
        subject: message
            .subject()
            .unwrap_or_default()
            .replace('\0', "")
            .trim()
            .to_owned(),
        date: message
            .date()
            .and_then(|d| DateTime::from_timestamp(d.to_timestamp(), 0)),
        text,
        attachments,
        headers,
    })
}

fn first_mailbox(address: Option<&Address<'_>>) -> Option<Mailbox> {
    let addr = address?.first()?;
    let email = addr.address()?.trim().to_lowercase();
    // Only a real address: a case must be answerable, and two residents whose From lines
    // are broken in the same way must not be merged into one "sender".
    if !email_address::EmailAddress::is_valid(&email) {
        return None;
    }
    Some(Mailbox {
        name: addr
            .name()
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty()),
        address: email,
    })
}

fn id_list(list: Option<&[std::borrow::Cow<'_, str>]>, single: Option<&str>) -> Vec<String> {
    match (list, single) {
        (Some(list), _) => list
            .iter()
            .filter_map(|s| normalise_message_id(s))
            .collect(),
        (None, Some(s)) => normalise_message_id(s).into_iter().collect(),
        (None, None) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 1024 * 1024;

    #[test]
    fn plain_message_is_parsed() {
        let raw = b"From: Jo Bloggs <Jo@Example.NET>\r\nTo: complaints@example.org\r\nSubject: Damp again\r\nMessage-ID: <abc@example.net>\r\nIn-Reply-To: <x1@example.org>\r\nReferences: <x0@example.org> <x1@example.org>\r\nDate: Mon, 5 Jan 2026 09:30:00 +0000\r\n\r\nThe mould is back.\r\n";
        let m = parse(raw, LIMIT).expect("parses");
        assert_eq!(m.from.address, "jo@example.net");
        assert_eq!(m.from.name.as_deref(), Some("Jo Bloggs"));
        assert_eq!(m.subject, "Damp again");
        assert_eq!(m.message_id.as_deref(), Some("<abc@example.net>"));
        assert_eq!(m.in_reply_to, vec!["<x1@example.org>"]);
        assert_eq!(m.references, vec!["<x0@example.org>", "<x1@example.org>"]);
        assert_eq!(m.text.trim(), "The mould is back.");
        assert_eq!(
            m.date.map(|d| d.to_rfc3339()),
            Some("2026-01-05T09:30:00+00:00".into())
        );
    }

    #[test]
    fn html_only_message_becomes_text_and_encoded_words_are_decoded() {
        let raw = "From: =?UTF-8?Q?Si=C3=A2n_Jones?= <sian@example.net>\r\nSubject: =?ISO-8859-1?Q?Caf=E9_leak?=\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Water through the <b>ceiling</b></p></body></html>\r\n";
        let m = parse(raw.as_bytes(), LIMIT).expect("parses");
        assert_eq!(m.from.name.as_deref(), Some("Siân Jones"));
        assert_eq!(m.subject, "Café leak");
        assert!(m.text.contains("Water through the ceiling"), "{:?}", m.text);
    }

    #[test]
    fn attachments_are_listed_with_their_size() {
        let raw = b"From: a@example.net\r\nSubject: photos\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nSee attached\r\n--XX\r\nContent-Type: image/jpeg; name=mould.jpg\r\nContent-Disposition: attachment; filename=mould.jpg\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQ=\r\n--XX--\r\n";
        let m = parse(raw, LIMIT).expect("parses");
        assert_eq!(m.text.trim(), "See attached");
        assert_eq!(
            m.attachments,
            vec![Attachment {
                name: Some("mould.jpg".into()),
                content_type: "image/jpeg".into(),
                size: 5
            }]
        );
    }

    #[test]
    fn unreadable_messages_say_why() {
        assert_eq!(parse(b"", LIMIT), Err(ParseError::Empty));
        assert_eq!(parse(b" \r\n\r\n", LIMIT), Err(ParseError::Empty));
        assert_eq!(
            parse(&[b'x'; 100], 10),
            Err(ParseError::TooLarge {
                size: 100,
                limit: 10
            })
        );
        assert_eq!(
            parse(b"Subject: no sender\r\n\r\nhello", LIMIT),
            Err(ParseError::NoSender)
        );
    }

    #[test]
    fn nul_bytes_and_invalid_utf8_do_not_break_parsing() {
        let mut raw = b"From: a@example.net\r\nSubject: bad\xff\xfe bytes\0\r\n\r\nbody \0 with \xc3\x28 junk".to_vec();
        raw.extend_from_slice(&[0u8; 16]);
        let m = parse(&raw, LIMIT).expect("parses");
        assert_eq!(m.from.address, "a@example.net");
        assert!(!m.text.contains('\0'));
        assert!(!m.subject.contains('\0'));
    }

    #[test]
    fn content_hash_is_stable_hex_sha256() {
        assert_eq!(
            content_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
