//! Reaching the store: directly when no daemon runs, else through the daemon's JSON API
//! (sled lets only one process open the store).

use anyhow::{Context, anyhow, bail};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::block_on;
use crate::config::Loaded;
use crate::core::event::{Event, Opened, Recorded};
use crate::core::model::Case;
use crate::daemon;
use crate::letters::{self, Draft};
use crate::store::{DueEntry, Store, StoreError};

/// The store itself, or the running daemon's API.
pub enum Backend {
    Local(Store),
    Remote(Client),
}

impl Backend {
    /// Opens the store, or, if the daemon holds it, connects to the daemon.
    pub fn connect(loaded: &Loaded) -> anyhow::Result<Backend> {
        match Store::open(
            &loaded.store_path,
            &loaded.config.organisation.reference_prefix,
        ) {
            Ok(store) => Ok(Backend::Local(store)),
            // Held by the daemon: talk to it. Held by something else (no daemon token or no
            // answer): say so plainly.
            Err(e @ StoreError::Locked { .. }) => match Client::for_daemon(loaded) {
                Ok(client) if client.is_up() => Ok(Backend::Remote(client)),
                _ => Err(anyhow!(e).context(format!(
                    "opening the case store ({}); no redress daemon answers at {}",
                    loaded.store_path.display(),
                    loaded.config.http.listen
                ))),
            },
            Err(e) => Err(anyhow!(e).context(format!(
                "opening the case store ({})",
                loaded.store_path.display()
            ))),
        }
    }

    pub fn cases(&self) -> anyhow::Result<Vec<Case>> {
        match self {
            Backend::Local(store) => Ok(store.cases().collect::<Result<_, _>>()?),
            Backend::Remote(client) => client.get("/api/cases"),
        }
    }

    pub fn case(&self, reference: &str) -> anyhow::Result<(Case, Vec<Recorded>)> {
        match self {
            Backend::Local(store) => Ok((store.require_case(reference)?, store.events(reference)?)),
            Backend::Remote(client) => {
                let v: Value = client.get(&format!("/api/cases/{reference}"))?;
                Ok((
                    serde_json::from_value(v["case"].clone())?,
                    serde_json::from_value(v["events"].clone())?,
                ))
            }
        }
    }

    /// Records an event; returns the case after it and any linked complaint opened (1.5).
    pub fn record(
        &self,
        loaded: &Loaded,
        reference: &str,
        event: Event,
        by: &str,
    ) -> anyhow::Result<(Case, Option<Case>)> {
        match self {
            Backend::Local(store) => {
                let c = block_on(store.record(
                    reference,
                    event,
                    by,
                    chrono::Utc::now(),
                    loaded.rules(),
                ))??;
                Ok((c.case, c.linked))
            }
            Backend::Remote(client) => {
                let v: Value = client.post(
                    &format!("/api/cases/{reference}/events"),
                    &serde_json::json!({ "by": by, "event": event }),
                )?;
                Ok((
                    serde_json::from_value(v["case"].clone())?,
                    serde_json::from_value(v["linked"].clone())?,
                ))
            }
        }
    }

    /// Opens a case (phone, letter, in person).
    pub fn open_case(&self, loaded: &Loaded, opened: Opened, by: &str) -> anyhow::Result<Case> {
        match self {
            Backend::Local(store) => {
                Ok(
                    block_on(store.open_case(opened, by, chrono::Utc::now(), loaded.rules()))??
                        .case,
                )
            }
            Backend::Remote(client) => client.post(
                "/api/cases",
                &serde_json::json!({ "by": by, "opened": opened }),
            ),
        }
    }

    /// The next `limit` due items from `from` (overdue included when `None`).
    pub fn due(
        &self,
        from: Option<chrono::NaiveDate>,
        limit: usize,
    ) -> anyhow::Result<Vec<DueEntry>> {
        match self {
            Backend::Local(store) => Ok(store.due(from, limit)?),
            Backend::Remote(client) => {
                let from = from.map(|d| format!("&from={d}")).unwrap_or_default();
                client.get(&format!("/api/due?limit={limit}{from}"))
            }
        }
    }

    /// The forecast over the next `days` working days (see `schedule::forecast`).
    pub fn forecast(
        &self,
        loaded: &Loaded,
        days: u32,
    ) -> anyhow::Result<crate::schedule::forecast::Forecast> {
        match self {
            Backend::Local(store) => Ok(crate::schedule::forecast::forecast(
                store,
                loaded,
                loaded.today(),
                days,
            )?),
            Backend::Remote(client) => client.get(&format!("/api/forecast?days={days}")),
        }
    }

    /// Staff notifications, oldest first; only those not yet delivered when `pending`.
    pub fn notifications(&self, pending: bool) -> anyhow::Result<Vec<crate::store::Notification>> {
        match self {
            Backend::Local(store) if pending => Ok(store.pending_notifications()?),
            Backend::Local(store) => Ok(store.notifications()?),
            Backend::Remote(client) => client.get(&format!("/api/notifications?pending={pending}")),
        }
    }

    pub fn drafts(&self) -> anyhow::Result<Vec<Draft>> {
        match self {
            Backend::Local(store) => Ok(store.drafts()?),
            Backend::Remote(client) => client.get("/api/drafts"),
        }
    }

    /// A draft as approval would send it (see `letters::write::as_it_stands`).
    pub fn draft(&self, loaded: &Loaded, id: u64) -> anyhow::Result<Draft> {
        match self {
            Backend::Local(store) => {
                let draft = store.draft(id)?;
                let case = store.require_case(&draft.reference)?;
                let templates = loaded.letter_templates()?;
                Ok(letters::write::as_it_stands(
                    &templates,
                    &loaded.config,
                    loaded.today(),
                    &draft,
                    &case,
                ))
            }
            Backend::Remote(client) => client.get(&format!("/api/drafts/{id}")),
        }
    }

    /// Marks an approved letter as printed and posted.
    pub fn posted(&self, loaded: &Loaded, id: u64, by: &str) -> anyhow::Result<Draft> {
        match self {
            Backend::Local(store) => {
                let now = chrono::Utc::now();
                Ok(block_on(store.mark_posted(
                    id,
                    by,
                    now,
                    loaded.today(),
                    loaded.rules(),
                ))??)
            }
            Backend::Remote(client) => client.post(
                &format!("/api/drafts/{id}/posted"),
                &serde_json::json!({ "by": by }),
            ),
        }
    }

    pub fn decide(
        &self,
        loaded: &Loaded,
        id: u64,
        approve: bool,
        by: &str,
        reason: Option<&str>,
    ) -> anyhow::Result<Draft> {
        let now = chrono::Utc::now();
        match self {
            Backend::Local(store) if approve => {
                let templates = loaded.letter_templates()?;
                let finalise =
                    letters::write::finalise(&templates, &loaded.config, loaded.today(), by);
                Ok(block_on(store.approve_draft(id, by, now, finalise))??)
            }
            Backend::Local(store) => Ok(block_on(store.reject_draft(
                id,
                by,
                reason.unwrap_or_default(),
                now,
            ))??),
            Backend::Remote(client) => {
                let action = if approve { "approve" } else { "reject" };
                client.post(
                    &format!("/api/drafts/{id}/{action}"),
                    &serde_json::json!({ "by": by, "reason": reason }),
                )
            }
        }
    }

    /// A staff edit of a pending draft; `subject` keeps the draft's own when `None`.
    pub fn edit(
        &self,
        loaded: &Loaded,
        id: u64,
        by: &str,
        subject: Option<&str>,
        text: &str,
    ) -> anyhow::Result<Draft> {
        match self {
            Backend::Local(store) => {
                let templates = loaded.letter_templates()?;
                Ok(block_on(letters::write::edit(
                    store,
                    &templates,
                    &loaded.config,
                    loaded.today(),
                    id,
                    by,
                    subject,
                    text,
                ))??)
            }
            Backend::Remote(client) => client.post(
                &format!("/api/drafts/{id}/edit"),
                &serde_json::json!({ "by": by, "subject": subject, "text": text }),
            ),
        }
    }
}

/// A client of the daemon's API on `http.listen`, with its bearer token.
pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    fn for_daemon(loaded: &Loaded) -> anyhow::Result<Client> {
        let token = match &loaded.config.api.token {
            Some(t) => t.clone(),
            None => {
                let path = daemon::token_path(loaded);
                std::fs::read_to_string(&path)
                    .with_context(|| format!("the store is in use by the daemon, and its API token {} cannot be read", path.display()))?
                    .trim()
                    .to_owned()
            }
        };
        Ok(Client {
            base: format!("http://{}", loaded.config.http.listen),
            token,
            http: reqwest::Client::new(),
        })
    }

    /// Whether the daemon answers its health check.
    fn is_up(&self) -> bool {
        let request = self
            .http
            .get(format!("{}/healthz", self.base))
            .timeout(std::time::Duration::from_secs(3));
        block_on(async { request.send().await.is_ok_and(|r| r.status().is_success()) })
            .unwrap_or(false)
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let request = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        self.send(request)
    }

    fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> anyhow::Result<T> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body);
        self.send(request)
    }

    fn send<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> anyhow::Result<T> {
        block_on(async {
            let response = request
                .send()
                .await
                .with_context(|| format!("reaching the daemon at {}", self.base))?;
            let status = response.status();
            let body: Value = response
                .json()
                .await
                .context("reading the daemon's answer")?;
            if !status.is_success() {
                let message = body["error"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| body.to_string());
                bail!("{message}");
            }
            serde_json::from_value(body)
                .map_err(|e| anyhow!("unexpected answer from the daemon: {e}"))
        })?
    }
}
