//! Automatic mail: out-of-office replies, bounces, mailing lists and our own letters coming
//! back. Answering them makes mail loops and opens nonsense cases, so they are recorded and
//! never answered (RFC 3834, and the checks RT, Zammad and osTicket make; SPEC §8).

use super::ParsedMail;

/// Why a message is automatic, or `None` if a person seems to have written it. `own_domain`
/// is the domain of our own Message-IDs: a message carrying one in its Message-ID is our own
/// letter looping back. (A resident's reply references our id in `In-Reply-To`, which is fine.)
pub fn automated_reason(mail: &ParsedMail, own_domain: &str) -> Option<String> {
    let header = |name: &str| {
        mail.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    if let Some(v) = header("auto-submitted").filter(|v| !v.starts_with("no")) {
        return Some(format!("Auto-Submitted: {v}"));
    }
    if let Some(v) = header("precedence").filter(|v| matches!(v.as_str(), "bulk" | "junk" | "list"))
    {
        return Some(format!("Precedence: {v}"));
    }
    for name in [
        "x-autoreply",
        "x-autorespond",
        "x-auto-response-suppress",
        "list-id",
        "list-unsubscribe",
    ] {
        if header(name).is_some() {
            return Some(format!("{name} header present"));
        }
    }
    if header("return-path").is_some_and(|v| v.trim() == "<>") {
        return Some("Return-Path: <> (a bounce)".to_owned());
    }
    let local = mail.from.address.split('@').next().unwrap_or_default();
    if matches!(local, "mailer-daemon" | "postmaster") {
        return Some(format!("sent by {}", mail.from.address));
    }
    if header("content-type").is_some_and(|v| v.contains("report-type=delivery-status")) {
        return Some("delivery status report (a bounce)".to_owned());
    }
    let ours = format!("@{}>", own_domain.to_ascii_lowercase());
    if mail
        .message_id
        .as_deref()
        .is_some_and(|id| id.to_ascii_lowercase().ends_with(&ours))
    {
        return Some("our own letter came back".to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::parse;

    fn reason(raw: &str) -> Option<String> {
        let mail = parse(raw.as_bytes(), 1 << 20).expect("parses");
        automated_reason(&mail, "redress.example.org")
    }

    #[test]
    fn a_resident_writing_is_not_automatic() {
        assert_eq!(
            reason("From: jo@example.net\r\nSubject: hi\r\nAuto-Submitted: no\r\n\r\nhello"),
            None
        );
        // Replying to our letter is how residents escalate: it must get through.
        assert_eq!(
            reason(
                "From: jo@example.net\r\nIn-Reply-To: <1.EH-2026-00001@redress.example.org>\r\n\r\nstill unhappy"
            ),
            None
        );
    }

    #[test]
    fn out_of_office_replies_are_automatic() {
        assert!(
            reason("From: jo@example.net\r\nAuto-Submitted: auto-replied\r\n\r\nI am away")
                .is_some()
        );
        assert!(reason("From: jo@example.net\r\nX-Autoreply: yes\r\n\r\nI am away").is_some());
        assert!(
            reason("From: jo@example.net\r\nX-Auto-Response-Suppress: All\r\n\r\naway").is_some()
        );
        assert!(reason("From: jo@example.net\r\nPrecedence: junk\r\n\r\naway").is_some());
    }

    #[test]
    fn bounces_are_automatic() {
        assert!(reason("From: MAILER-DAEMON@example.net\r\n\r\nundeliverable").is_some());
        assert!(reason("From: postmaster@example.net\r\n\r\nundeliverable").is_some());
        assert!(reason("From: x@example.net\r\nReturn-Path: <>\r\n\r\nundeliverable").is_some());
        assert!(
            reason("From: x@example.net\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\n\r\nfailed\r\n--b--")
                .is_some()
        );
    }

    #[test]
    fn mailing_lists_and_newsletters_are_automatic() {
        assert!(
            reason("From: news@example.net\r\nList-Id: <news.example.net>\r\n\r\nnews").is_some()
        );
        assert!(
            reason(
                "From: news@example.net\r\nList-Unsubscribe: <mailto:u@example.net>\r\n\r\nnews"
            )
            .is_some()
        );
        assert!(reason("From: news@example.net\r\nPrecedence: bulk\r\n\r\nnews").is_some());
    }

    #[test]
    fn our_own_letter_looping_back_is_automatic() {
        let r = reason(
            "From: complaints@example.org\r\nMessage-ID: <7.EH-2026-00001@Redress.Example.org>\r\n\r\nletter",
        );
        assert_eq!(r.as_deref(), Some("our own letter came back"));
    }
}
