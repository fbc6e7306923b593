//! Threading helpers: case references in subjects and Message-ID normalisation.

/// Normalises a Message-ID to `<local@domain>` (brackets added, whitespace removed); `None`
/// for an empty one.
pub fn normalise_message_id(raw: &str) -> Option<String> {
    let id: String = raw
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    (!id.is_empty()).then(|| format!("<{id}>"))
}

/// Finds a case reference such as `EH-2026-00042` for `prefix` in a subject line, with or
/// without brackets ("Re: [EH-2026-00042] Your complaint", "ref eh-2026-00042").
pub fn find_reference(subject: &str, prefix: &str) -> Option<String> {
    let upper = subject.to_ascii_uppercase();
    let needle = format!("{}-", prefix.to_ascii_uppercase());
    let bytes = upper.as_bytes();
    let mut from = 0;
    while let Some(pos) = upper[from..].find(&needle) {
        let start = from + pos;
        from = start + needle.len();
        // The prefix must start a word: "XEH-2026-1" is not ours.
        if start > 0 && bytes[start - 1].is_ascii_alphanumeric() {
            continue;
        }
        let rest = &upper[from..];
        let year: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if year.len() != 4 || rest.as_bytes().get(4) != Some(&b'-') {
            continue;
        }
        let number: String = rest[5..].chars().take_while(char::is_ascii_digit).collect();
        let after = rest.as_bytes().get(5 + number.len());
        if number.len() < 5 || after.is_some_and(u8::is_ascii_alphanumeric) {
            continue;
        }
        return Some(format!("{}-{year}-{number}", prefix.to_ascii_uppercase()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_normalised() {
        assert_eq!(normalise_message_id(" <a@b> ").as_deref(), Some("<a@b>"));
        assert_eq!(normalise_message_id("a@b").as_deref(), Some("<a@b>"));
        assert_eq!(normalise_message_id("<>"), None);
    }

    #[test]
    fn references_are_found_in_subjects() {
        assert_eq!(
            find_reference("Re: [EH-2026-00042] Your complaint", "EH").as_deref(),
            Some("EH-2026-00042")
        );
        assert_eq!(
            find_reference("about eh-2026-00042 please", "EH").as_deref(),
            Some("EH-2026-00042")
        );
        assert_eq!(
            find_reference("RE: RE: Fwd: (EH-2025-00001)", "EH").as_deref(),
            Some("EH-2025-00001")
        );
        assert_eq!(find_reference("XEH-2026-00042", "EH"), None);
        assert_eq!(find_reference("EH-26-00042", "EH"), None);
        assert_eq!(find_reference("EH-2026-0004", "EH"), None);
        assert_eq!(find_reference("DH-2026-00042", "EH"), None);
        assert_eq!(find_reference("EH-2026-00042X", "EH"), None);
    }
}
