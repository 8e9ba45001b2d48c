//! Rules that lost to an older Ingress of the same class, and which of them were already
//! announced. Two creations at the same instant can both pass the webhook; the proxy
//! serves the older, and the newer one's owner hears about it once.
//!
//! Who wins a rule is the webhook's conflict index (one source of truth): the reconcile
//! of any Ingress looks at every holder of the rules it claims, so a loss is found whichever
//! of the two Ingresses is reconciled last.

use std::collections::{HashMap, HashSet};

use k8s_openapi::api::networking::v1::Ingress;
use sluice_crds::ingress::claims;
use sluice_webhook::index::{Index, IngressId};

/// One rule that lost to an older Ingress.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Lost {
    pub loser: IngressId,
    /// The rule, as a person reads it (`host a.example.com path /api (Prefix)`).
    pub key: String,
    /// `namespace/name` of the Ingress that is served instead.
    pub winner: String,
}

/// Every loss on the rules `ingress` claims in `class`: its own, and those of younger
/// Ingresses claiming the same rules.
pub fn losses_around(index: &Index, class: &str, ingress: &Ingress) -> Vec<Lost> {
    let (claims, _) = claims(ingress);
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for claim in claims {
        if !seen.insert(claim.key.clone()) {
            continue;
        }
        let mut holders = index.holders(class, &claim.key);
        let Some(winner) = holders.next() else {
            continue;
        };
        for loser in holders {
            out.push(Lost {
                loser: (loser.namespace.clone(), loser.name.clone()),
                key: claim.key.to_string(),
                winner: winner.to_string(),
            });
        }
    }
    out
}

/// The losses already announced, per losing Ingress.
#[derive(Debug, Default)]
pub struct Announced {
    by_loser: HashMap<IngressId, HashSet<(String, String)>>,
}

impl Announced {
    /// Records the losses found while reconciling `reconciled` and returns those not yet
    /// announced. The reconciled Ingress's own losses replace what was recorded for it, so
    /// a conflict that was resolved and comes back is announced again.
    pub fn fresh(&mut self, reconciled: &IngressId, losses: Vec<Lost>) -> Vec<Lost> {
        let own: HashSet<(String, String)> = losses
            .iter()
            .filter(|l| &l.loser == reconciled)
            .map(|l| (l.key.clone(), l.winner.clone()))
            .collect();
        let before = self.by_loser.remove(reconciled).unwrap_or_default();
        let mut out = Vec::new();
        for lost in losses {
            let pair = (lost.key.clone(), lost.winner.clone());
            let new = if &lost.loser == reconciled {
                !before.contains(&pair)
            } else {
                self.by_loser
                    .entry(lost.loser.clone())
                    .or_default()
                    .insert(pair)
            };
            if new {
                out.push(lost);
            }
        }
        if !own.is_empty() {
            self.by_loser.insert(reconciled.clone(), own);
        }
        out.dedup();
        out
    }

    /// Forgets a deleted Ingress.
    pub fn forget(&mut self, id: &IngressId) {
        self.by_loser.remove(id);
    }
}
