//! Writing letters for cases, and the policies the store applies to drafts: the templates'
//! version of a letter with its compliance findings, the approval check that first rewrites an
//! unedited draft from the case as it now stands, and the check of a staff edit.

use chrono::NaiveDate;

use super::approval::{findings, refusals};
use super::context;
use super::templates::Templates;
use super::{Draft, Written, plain};
use crate::config::Config;
use crate::core::model::Case;
use crate::core::workflow::LetterKind;

/// `letter` for `case`, from the templates, with what it lacks. Should a template fail (they
/// are checked at start, so this is a defect), the plain version is written instead and the
/// failure heads its problems, so staff see it and the check judges what was written.
pub fn write(
    templates: &Templates,
    case: &Case,
    letter: LetterKind,
    config: &Config,
    today: NaiveDate,
) -> Written {
    let ctx = context::build(case, letter, config, today);
    match templates.render(letter, &ctx) {
        Ok(r) => Written {
            problems: findings(letter, &ctx, &r.subject, &r.text, Some(&r.html)),
            subject: r.subject,
            body: r.text,
            html: Some(r.html),
        },
        Err(e) => {
            let (subject, body) = plain::render(case, letter, config);
            let mut problems = vec![format!(
                "the template could not be used, so this is the plain version: {e}"
            )];
            problems.extend(findings(letter, &ctx, &subject, &body, None));
            Written {
                subject,
                body,
                html: None,
                problems,
            }
        }
    }
}

/// The approval policy for `by`: an unedited draft is first rewritten from the case as it is
/// now (a definition or decision recorded since it was drafted), then checked
/// ([`refusals`]). An edited draft is checked as staff left it.
pub fn finalise<'a>(
    templates: &'a Templates,
    config: &'a Config,
    today: NaiveDate,
    by: &'a str,
) -> impl Fn(&Draft, &Case) -> Result<Draft, Vec<String>> + 'a {
    move |draft, case| {
        let ready = as_it_stands(templates, config, today, draft, case);
        let reasons = refusals(&ready, case, by, config, today);
        if reasons.is_empty() {
            Ok(ready)
        } else {
            Err(reasons)
        }
    }
}

/// A pending draft as it would be approved now: unless staff edited it, rewritten from the
/// case as it stands, so what staff read (`draft show`, `GET /api/drafts/{id}`) is what
/// approval would send. Other drafts are returned as they are.
pub fn as_it_stands(
    templates: &Templates,
    config: &Config,
    today: NaiveDate,
    draft: &Draft,
    case: &Case,
) -> Draft {
    let mut current = draft.clone();
    if current.status == super::DraftStatus::Pending && current.edits.is_empty() {
        let written = write(templates, case, current.letter, config, today);
        current.subject = written.subject;
        current.body = written.body;
        current.html = written.html;
        current.problems = written.problems;
    }
    current
}

/// The compliance check of a staff edit.
pub fn recheck<'a>(
    config: &'a Config,
    today: NaiveDate,
) -> impl Fn(&Draft, &Case) -> Vec<String> + 'a {
    move |draft, case| {
        let ctx = context::build(case, draft.letter, config, today);
        findings(
            draft.letter,
            &ctx,
            &draft.subject,
            &draft.body,
            draft.html.as_deref(),
        )
    }
}

/// The HTML version of an edited letter for `case`; `None` (text only) if the template fails.
pub fn edited_html(
    templates: &Templates,
    case: &Case,
    letter: LetterKind,
    config: &Config,
    today: NaiveDate,
    subject: &str,
    body: &str,
) -> Option<String> {
    let ctx = context::build(case, letter, config, today);
    templates.edited_html(subject, body, &ctx).ok()
}

/// Records a staff edit of draft `id` in `store`: the new subject (the draft's own when
/// `None`) and text, an HTML version made from the text, and what the edited letter lacks.
#[allow(clippy::too_many_arguments)]
pub async fn edit(
    store: &crate::store::Store,
    templates: &Templates,
    config: &Config,
    today: NaiveDate,
    id: u64,
    by: &str,
    subject: Option<&str>,
    text: &str,
) -> Result<Draft, crate::store::StoreError> {
    let draft = store.draft(id)?;
    let case = store.require_case(&draft.reference)?;
    let subject = subject.unwrap_or(&draft.subject).to_owned();
    let html = edited_html(
        templates,
        &case,
        draft.letter,
        config,
        today,
        &subject,
        text,
    );
    store
        .edit_draft(
            id,
            by,
            chrono::Utc::now(),
            &subject,
            text,
            html,
            recheck(config, today),
        )
        .await
}
