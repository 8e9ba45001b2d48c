//! The routes one path of a host can lead to, in the order they are tried: the first whose
//! request conditions a request meets takes it. An Ingress rule is one candidate without
//! conditions; Gateway API matches sharing a path are several, in
//! [`Precedence`] order.

use std::cmp::Ordering;
use std::sync::Arc;

use serde::Serialize;
use serde::ser::SerializeStruct;
use sluice_crds::gateway::matching::{Precedence, RequestConditions, RequestFacts};

use super::Route;

/// A Gateway API rule's weighted backendRefs: each its own route (one backend each, or
/// answering 500 for a backendRef that cannot be used), picked by weight per request. A
/// backendRef of weight 0 is not in it.
#[derive(Debug, Serialize)]
pub struct Split {
    /// Each route and the end of its share: the running total of the weights.
    shares: Vec<(u64, Arc<Route>)>,
}

impl Split {
    /// From `(weight, route)` pairs; `None` when fewer than two have weight (then there is
    /// nothing to pick).
    pub fn new(weighted: impl IntoIterator<Item = (u32, Arc<Route>)>) -> Option<Self> {
        let weighted = weighted.into_iter();
        // Most rules have one backendRef: nothing to pick, nothing to collect.
        let (_, most) = weighted.size_hint();
        if most.is_some_and(|most| most < 2) {
            return None;
        }
        let mut total = 0u64;
        let shares: Vec<(u64, Arc<Route>)> = weighted
            .filter(|(weight, _)| *weight > 0)
            .map(|(weight, route)| {
                total += u64::from(weight);
                (total, route)
            })
            .collect();
        (shares.len() > 1).then_some(Self { shares })
    }

    /// The route whose share `roll` (below the total weight) falls in.
    pub fn pick(&self, roll: u64) -> &Arc<Route> {
        let at = self.shares.partition_point(|(end, _)| *end <= roll);
        let last = self.shares.len() - 1;
        &self.shares[at.min(last)].1
    }

    pub fn total(&self) -> u64 {
        self.shares.last().map_or(0, |(end, _)| *end)
    }
}

/// A route and what a request must also have to take it.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// The route; with a [`Split`], the first of its routes (the one `/routes` shows).
    pub route: Arc<Route>,
    /// Weighted backendRefs: the route is picked among these per request.
    pub split: Option<Arc<Split>>,
    /// `None`: nothing (an Ingress rule, or a match with only a path).
    pub conditions: Option<Arc<RequestConditions>>,
    /// Its place among the candidates of its host; `None` for an Ingress rule.
    pub precedence: Option<Precedence>,
}

impl Candidate {
    /// An Ingress rule: no conditions, no precedence of its own.
    pub fn ingress(route: Arc<Route>) -> Self {
        Self {
            route,
            split: None,
            conditions: None,
            precedence: None,
        }
    }

    /// A Gateway API match: `conditions` that require nothing are dropped, so that its
    /// requests are not read for nothing.
    pub fn gateway(
        route: Arc<Route>,
        conditions: RequestConditions,
        precedence: Precedence,
    ) -> Self {
        Self {
            route,
            split: None,
            conditions: (!conditions.is_empty()).then(|| Arc::new(conditions)),
            precedence: Some(precedence),
        }
    }

    /// [`Candidate::gateway`], with `conditions` already shared (by the same match served on
    /// several hosts): `None`, or conditions that require something.
    pub fn gateway_shared(
        route: Arc<Route>,
        conditions: Option<Arc<RequestConditions>>,
        precedence: Precedence,
    ) -> Self {
        debug_assert!(conditions.as_ref().is_none_or(|c| !c.is_empty()));
        Self {
            route,
            split: None,
            conditions,
            precedence: Some(precedence),
        }
    }

    /// The same, its route picked per request by weight among `split`'s.
    pub fn with_split(mut self, split: Option<Arc<Split>>) -> Self {
        self.split = split;
        self
    }

    /// The route a request that it admits takes: its route, or one of its split's, at
    /// random by weight.
    pub fn chosen(&self) -> &Arc<Route> {
        match &self.split {
            Some(split) => split.pick(fastrand::u64(0..split.total().max(1))),
            None => &self.route,
        }
    }

    /// Whether `request` meets its conditions. Without conditions the request is not read.
    pub fn admits(&self, request: &impl RequestFacts) -> bool {
        self.conditions.as_ref().is_none_or(|c| c.matches(request))
    }
}

/// The order candidates are tried in: by precedence; an Ingress rule (which takes every
/// request) after the Gateway API matches, should the two ever share a path.
pub fn order(a: &Candidate, b: &Candidate) -> Ordering {
    match (&a.precedence, &b.precedence) {
        (Some(a), Some(b)) => a.cmp(b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// The candidates of one path, in the order they are tried.
#[derive(Clone, Debug, Default)]
pub struct Candidates(Vec<Candidate>);

impl Candidates {
    /// Adds `candidate` in its place (after those it ties with). An Ingress rule replaces
    /// the Ingress rule already there, as one path has one Ingress rule.
    pub fn insert(&mut self, candidate: Candidate) {
        if candidate.precedence.is_none() {
            self.0.retain(|c| c.precedence.is_some());
        }
        let at = self
            .0
            .partition_point(|c| order(c, &candidate) != Ordering::Greater);
        self.0.insert(at, candidate);
    }

    /// The route of the first candidate `request` is admitted by.
    pub fn first_admitting(&self, request: &impl RequestFacts) -> Option<&Arc<Route>> {
        self.0
            .iter()
            .find(|c| c.admits(request))
            .map(Candidate::chosen)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Candidate> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

// `/routes` shows a candidate without conditions as its route (so an Ingress table reads as
// it always did), one with conditions as `{"conditions": ..., "route": ...}`.
impl Serialize for Candidate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (&self.conditions, &self.split) {
            (None, None) => self.route.serialize(s),
            (conditions, split) => {
                let mut out = s.serialize_struct("Candidate", 2)?;
                if let Some(conditions) = conditions {
                    out.serialize_field("conditions", conditions)?;
                }
                match split {
                    Some(split) => out.serialize_field("split", split)?,
                    None => out.serialize_field("route", &self.route)?,
                }
                out.end()
            }
        }
    }
}

// One candidate shows as itself; several as a list, in the order they are tried.
impl Serialize for Candidates {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0[..] {
            [one] => one.serialize(s),
            all => s.collect_seq(all),
        }
    }
}
