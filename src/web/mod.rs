//! The daemon's HTTP listener: a local JSON API for staff tools and the command line (sled
//! lets one process hold the store, so while the daemon runs the CLI's case and draft
//! commands come through here). Every `/api` route needs the bearer token.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use crate::config::Loaded;
use crate::store::{Store, StoreError};

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub loaded: Arc<Loaded>,
    pub token: Arc<String>,
    /// The letter templates, loaded and checked at start.
    pub templates: Arc<crate::letters::templates::Templates>,
}

/// The routes. Everything under `/api` needs the bearer token (checked once, by
/// [`require_token`], for every route).
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/cases", get(list_cases).post(open_case))
        .route("/api/due", get(due))
        .route("/api/forecast", get(forecast))
        .route("/api/notifications", get(notifications))
        .route("/api/cases/{reference}", get(show_case))
        .route("/api/cases/{reference}/events", post(record_event))
        .route("/api/drafts", get(list_drafts))
        .route("/api/drafts/{id}", get(show_draft))
        .route("/api/drafts/{id}/approve", post(approve))
        .route("/api/drafts/{id}/reject", post(reject))
        .route("/api/drafts/{id}/edit", post(edit))
        .route("/api/drafts/{id}/posted", post(posted))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .merge(api)
        .with_state(state)
}

/// An API error: status and a sentence saying what was wrong.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let status = match &e {
            StoreError::NotFound(_) => StatusCode::NOT_FOUND,
            StoreError::DraftRefused { .. } | StoreError::Workflow(_) => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

type ApiResult = Result<Json<serde_json::Value>, ApiError>;

/// Refuses any `/api` request without the right bearer token.
async fn require_token(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match authorise(&state, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

fn authorise(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Constant-time comparison: the token is a secret.
    let expected = state.token.as_bytes();
    let same = given.len() == expected.len()
        && given
            .bytes()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(())
    } else {
        Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "a valid bearer token is required".into(),
        ))
    }
}

fn staff_member(state: &AppState, by: &str) -> Result<(), ApiError> {
    let staff = &state.loaded.config.staff;
    if staff.is_empty() || staff.iter().any(|s| s.email.eq_ignore_ascii_case(by)) {
        Ok(())
    } else {
        Err(ApiError(
            StatusCode::FORBIDDEN,
            format!("{by} is not a member of staff"),
        ))
    }
}

async fn list_cases(State(state): State<AppState>) -> ApiResult {
    let cases: Vec<_> = state.store.cases().collect::<Result<_, _>>()?;
    Ok(Json(json!(cases)))
}

async fn show_case(State(state): State<AppState>, Path(reference): Path<String>) -> ApiResult {
    let case = state.store.require_case(&reference)?;
    let events = state.store.events(&reference)?;
    Ok(Json(json!({ "case": case, "events": events })))
}

#[derive(Deserialize)]
struct Opening {
    by: String,
    opened: crate::core::event::Opened,
}

/// Logs a case received by phone, letter or in person.
async fn open_case(State(state): State<AppState>, Json(body): Json<Opening>) -> ApiResult {
    staff_member(&state, &body.by)?;
    let commit = state
        .store
        .open_case(body.opened, &body.by, Utc::now(), state.loaded.rules())
        .await?;
    Ok(Json(json!(commit.case)))
}

#[derive(Deserialize)]
struct DueQuery {
    from: Option<chrono::NaiveDate>,
    limit: Option<usize>,
}

/// What is due next, from the due-date index.
async fn due(
    State(state): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<DueQuery>,
) -> ApiResult {
    Ok(Json(json!(state.store.due(q.from, q.limit.unwrap_or(50))?)))
}

#[derive(Deserialize)]
struct NotificationsQuery {
    #[serde(default)]
    pending: bool,
}

/// Staff notifications (alerts, reminders, digests) and how far their delivery got.
async fn notifications(
    State(state): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<NotificationsQuery>,
) -> ApiResult {
    let list = if q.pending {
        state.store.pending_notifications()?
    } else {
        state.store.notifications()?
    };
    Ok(Json(json!(list)))
}

#[derive(Deserialize)]
struct ForecastQuery {
    days: Option<u32>,
}

/// The forecast: every deadline and alert over the next N working days (default 10).
async fn forecast(
    State(state): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<ForecastQuery>,
) -> ApiResult {
    let days = q.days.unwrap_or(crate::schedule::forecast::DEFAULT_DAYS);
    if days > 260 {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "days: at most 260 working days (a year)".into(),
        ));
    }
    let f = crate::schedule::forecast::forecast(
        &state.store,
        &state.loaded,
        state.loaded.today(),
        days,
    )?;
    Ok(Json(json!(f)))
}

/// Prometheus metrics. No token: monitoring scrapes it, and it holds counts only, never a
/// name or a case (keep the listener on loopback or behind the proxy as for the API).
async fn metrics(State(state): State<AppState>) -> Response {
    // Reading the gauges walks indexes: off the async workers.
    let read = tokio::task::spawn_blocking(move || {
        crate::metrics::render(&state.store, &state.loaded, state.loaded.today())
    })
    .await;
    match read {
        Ok(Ok(text)) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Ok(Err(e)) => ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(e) => ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[derive(Deserialize)]
struct Recording {
    by: String,
    event: crate::core::event::Event,
}

async fn record_event(
    State(state): State<AppState>,
    Path(reference): Path<String>,
    Json(body): Json<Recording>,
) -> ApiResult {
    staff_member(&state, &body.by)?;
    let correction = matches!(body.event, crate::core::event::Event::Reclassified { .. });
    let commit = state
        .store
        .record(
            &reference,
            body.event,
            &body.by,
            Utc::now(),
            state.loaded.rules(),
        )
        .await?;
    if correction {
        // A staff correction is training data (SPEC §1): the next message is classified
        // with it. The event is recorded either way; a failure here only delays learning
        // until the next correction or restart.
        // Retraining reads every correction and rebuilds the model (milliseconds, but CPU
        // work): off the async workers. Awaited, so the answer comes after it.
        let (store, loaded) = (state.store.clone(), state.loaded.clone());
        let retrained =
            tokio::task::spawn_blocking(move || crate::daemon::learn_corrections(&store, &loaded))
                .await;
        match retrained {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!("retraining the classifier after {reference}: {e}"),
            Err(e) => tracing::error!("retraining the classifier after {reference}: {e}"),
        }
    }
    Ok(Json(
        json!({ "case": commit.case, "linked": commit.linked }),
    ))
}

async fn list_drafts(State(state): State<AppState>) -> ApiResult {
    Ok(Json(json!(state.store.drafts()?)))
}

/// A draft as approval would send it (a pending, unedited draft rewritten from its case).
async fn show_draft(State(state): State<AppState>, Path(id): Path<u64>) -> ApiResult {
    let draft = state.store.draft(id)?;
    let case = state.store.require_case(&draft.reference)?;
    let loaded = &state.loaded;
    Ok(Json(json!(crate::letters::write::as_it_stands(
        &state.templates,
        &loaded.config,
        loaded.today(),
        &draft,
        &case
    ))))
}

#[derive(Deserialize)]
struct Decision {
    by: String,
    #[serde(default)]
    reason: Option<String>,
}

async fn approve(
    State(state): State<AppState>,
    Path(id): Path<u64>,
    Json(body): Json<Decision>,
) -> ApiResult {
    staff_member(&state, &body.by)?;
    let loaded = &state.loaded;
    let finalise =
        crate::letters::write::finalise(&state.templates, &loaded.config, loaded.today(), &body.by);
    Ok(Json(json!(
        state
            .store
            .approve_draft(id, &body.by, Utc::now(), finalise)
            .await?
    )))
}

#[derive(Deserialize)]
struct Edit {
    by: String,
    #[serde(default)]
    subject: Option<String>,
    text: String,
}

/// A staff edit of a pending draft; the answer carries the compliance findings (`problems`).
async fn edit(
    State(state): State<AppState>,
    Path(id): Path<u64>,
    Json(body): Json<Edit>,
) -> ApiResult {
    staff_member(&state, &body.by)?;
    let loaded = &state.loaded;
    let draft = crate::letters::write::edit(
        &state.store,
        &state.templates,
        &loaded.config,
        loaded.today(),
        id,
        &body.by,
        body.subject.as_deref(),
        &body.text,
    )
    .await?;
    Ok(Json(json!(draft)))
}

/// Staff printed and posted an approved letter.
async fn posted(
    State(state): State<AppState>,
    Path(id): Path<u64>,
    Json(body): Json<Decision>,
) -> ApiResult {
    staff_member(&state, &body.by)?;
    let loaded = &state.loaded;
    let draft = state
        .store
        .mark_posted(id, &body.by, Utc::now(), loaded.today(), loaded.rules())
        .await?;
    Ok(Json(json!(draft)))
}

async fn reject(
    State(state): State<AppState>,
    Path(id): Path<u64>,
    Json(body): Json<Decision>,
) -> ApiResult {
    staff_member(&state, &body.by)?;
    let reason = body.reason.unwrap_or_default();
    Ok(Json(json!(
        state
            .store
            .reject_draft(id, &body.by, &reason, Utc::now())
            .await?
    )))
}
