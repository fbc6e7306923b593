//! redress: complaint handling for UK social-housing landlords under the Housing Ombudsman's
//! Complaint Handling Code (2024).
//!
//! Module map:
//! - [`core`]: the pure core — working-day [`core::calendar`], the Code's timescales and policy
//!   lint ([`core::code`]), the case [`core::model`], its [`core::event`]s and the
//!   [`core::workflow`] that decides what each event means. No I/O.
//! - [`config`]: the TOML configuration, environment overrides, secrets from files, and a
//!   validator that reports every problem with its key and line.
//! - [`store`]: the sled store — event log, snapshots and indexes written in one transaction.
//! - [`schedule`]: cron jobs, deadline alerts and reminders, digests, the forecast, and the
//!   notifier that delivers them by email and chat; [`metrics`] for `GET /metrics`.
//! - [`cli`]: the command-line front end `main` dispatches to.

pub mod classify;
pub mod cli;
pub mod config;
pub mod core;
pub mod daemon;
pub mod intake;
pub mod letters;
pub mod mail;
pub mod metrics;
pub mod outbox;
pub mod schedule;
pub mod store;
pub mod web;
