//! What the rules read: the subject and the resident's own words, without the quoted earlier
//! messages and signatures that email clients add. A quoted "we apologise for the delay" from
//! our own letter must not make a thank-you note look like a complaint.

/// Subject and body reduced to the text the rules match against.
pub fn normalise(subject: &str, body: &str) -> String {
    let body = strip_quoted(body);
    let subject = strip_reply_prefixes(subject);
    if subject.is_empty() {
        body
    } else {
        format!("{subject}\n{body}")
    }
}

/// "Re: Fwd: RE: [EH-2026-00001] Damp" → "[EH-2026-00001] Damp".
fn strip_reply_prefixes(subject: &str) -> String {
    let mut s = subject.trim();
    loop {
        let lower = s.to_ascii_lowercase();
        let cut = ["re:", "fw:", "fwd:", "aw:", "sv:"]
            .iter()
            .find(|p| lower.starts_with(*p))
            .map(|p| p.len());
        match cut {
            Some(n) => s = s[n..].trim_start(),
            None => return s.to_owned(),
        }
    }
}

/// The resident's own text: everything before the first marker of quoted or forwarded mail,
/// less any `>`-quoted lines and the closing formula ("Kind regards"). The few lines after a
/// closing are kept: they are the writer's signature, and "Cllr Ade Olumide, Riverside Ward"
/// or "Member of Parliament for Millbrook East" there is what makes a letter an MP's or
/// councillor's enquiry.
fn strip_quoted(body: &str) -> String {
    let lines: Vec<&str> = body.lines().collect();
    let end = lines
        .iter()
        .enumerate()
        .position(|(i, line)| starts_quote(line, lines.get(i + 1).copied()))
        .unwrap_or(lines.len());
    let own = &lines[..end];
    let closing = own
        .iter()
        .enumerate()
        .position(|(i, line)| is_closing(line) && own.len() - i <= SIGNATURE_LINES);
    own.iter()
        .enumerate()
        .filter(|(i, l)| Some(*i) != closing && !l.trim_start().starts_with('>'))
        .map(|(_, l)| l.trim_end())
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

/// A closing formula this close to the end of the resident's text starts the signature.
const SIGNATURE_LINES: usize = 7;

/// A line that begins quoted, forwarded or signature material.
fn starts_quote(line: &str, next: Option<&str>) -> bool {
    let t = line.trim();
    let lower = t.to_ascii_lowercase();
    let wrote = lower.ends_with("wrote:")
        || (lower.starts_with("on ")
            && next.is_some_and(|n| n.trim().to_ascii_lowercase().ends_with("wrote:")));
    wrote && lower.starts_with("on ")
        || (lower.starts_with("-----") && lower.contains("original message"))
        || (lower.starts_with("from:")
            && next.is_some_and(|n| n.trim().to_ascii_lowercase().starts_with("sent:")))
        || (t.len() >= 8 && t.chars().all(|c| c == '_'))
        || t == "--"
        || lower.starts_with("sent from my ")
        || lower.starts_with("get outlook for ")
}

/// A closing formula; what follows a few lines later is a signature.
fn is_closing(line: &str) -> bool {
    let lower = line
        .trim()
        .trim_end_matches([',', '.', '!'])
        .to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "kind regards"
            | "regards"
            | "best regards"
            | "best wishes"
            | "many thanks"
            | "thanks"
            | "thank you"
            | "yours sincerely"
            | "yours faithfully"
            | "cheers"
            | "warm regards"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_replies_and_the_closing_are_dropped_but_the_signature_stays() {
        let body = "Thanks, that's sorted now.\n\nKind regards,\nJo Bloggs\nFlat 4\n\nOn Mon, 3 Nov 2026 at 10:00, Example Homes <c@example.org>\nwrote:\n> We apologise for the delay and the poor service.\n";
        assert_eq!(
            normalise("Re: RE: [EH-2026-00001] Your complaint", body),
            "[EH-2026-00001] Your complaint\nThanks, that's sorted now.\n\nJo Bloggs\nFlat 4"
        );
        // Who signed it can decide the kind: a councillor's enquiry has its own route.
        let councillor = "Can you tell me when the lifts will be fixed?\n\nMany thanks,\nCllr Ade Olumide\nRiverside Ward";
        assert!(normalise("", councillor).ends_with("Cllr Ade Olumide\nRiverside Ward"));
    }

    #[test]
    fn outlook_and_mobile_markers_end_the_text() {
        let outlook = "Still no heating.\n\nFrom: Example Homes\nSent: 3 November 2026\nTo: Jo\nSubject: Repair booked\n\nWe are sorry.";
        assert_eq!(normalise("", outlook), "Still no heating.");
        assert_eq!(
            normalise("", "Boiler broken again\nSent from my iPhone"),
            "Boiler broken again"
        );
        assert_eq!(normalise("", "Leak\n-- \nJo Bloggs"), "Leak");
        assert_eq!(
            normalise("", "hi\n-----Original Message-----\nwe apologise"),
            "hi"
        );
    }

    #[test]
    fn inline_quotes_are_removed_but_the_residents_words_stay() {
        let body = "> When will you come?\nNobody has come.\n> Sorry.\nI am fed up.";
        assert_eq!(normalise("", body), "Nobody has come.\nI am fed up.");
    }

    #[test]
    fn a_closing_early_in_a_long_message_is_not_a_signature() {
        let body =
            "Thanks\nfor nothing. The leak is back.\nline\nline\nline\nline\nline\nline\nline";
        assert!(normalise("", body).contains("The leak is back"));
    }
}
