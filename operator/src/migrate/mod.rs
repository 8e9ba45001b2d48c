//! `sluice-migrate`: the migration report on the Ingresses of an ingress-nginx class.
//!
//! The thinking is `sluice_crds::annotations::migration`'s, shared with the admission
//! webhook through the same annotation table. Here: [`source`] finds the Ingresses (in a
//! cluster or in files), [`render`] writes the report as text, YAML (the rewritten
//! Ingresses) or JSON, and [`exit_code`] sums it up for scripts.

pub mod render;
pub mod source;

use sluice_crds::annotations::migration::{IngressReport, Safety};

/// How the report is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// For people: each Ingress's verdict, and each of its annotations' with why.
    Text,
    /// The Ingresses rewritten for Sluice's class, each after a comment with its verdict.
    Yaml,
    /// The report as data.
    Json,
}

/// The exit status when every Ingress is safe to switch (or there is none).
pub const ALL_SAFE: u8 = 0;
/// The exit status when some Ingress is not safe to switch, or needs care.
pub const NOT_ALL_SAFE: u8 = 2;

/// [`ALL_SAFE`] or [`NOT_ALL_SAFE`]. An Ingress to switch with care counts as not safe: a
/// script that gates on the report should make a person look at it.
pub fn exit_code(reports: &[IngressReport]) -> u8 {
    match reports.iter().all(|r| r.verdict.safety == Safety::Safe) {
        true => ALL_SAFE,
        false => NOT_ALL_SAFE,
    }
}
