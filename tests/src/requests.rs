//! The API server's own count of the requests it served (`apiserver_request_total`), so
//! tests count writes where they land, not in the logs of whoever made them.

use std::collections::BTreeMap;

/// Write requests by `"VERB resource/subresource"`.
pub type Writes = BTreeMap<String, f64>;

/// The write requests counted in a `/metrics` text, except Leases (leader election renews
/// one every few seconds by design).
pub fn writes_in(metrics: &str) -> anyhow::Result<Writes> {
    let mut counts = Writes::new();
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let label = |name: &str| {
            series
                .split(&format!("{name}=\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default()
                .to_string()
        };
        let verb = label("verb");
        let resource = label("resource");
        if matches!(verb.as_str(), "POST" | "PUT" | "PATCH" | "DELETE" | "APPLY")
            && resource != "leases"
        {
            *counts
                .entry(format!("{verb} {resource}/{}", label("subresource")))
                .or_default() += value.parse::<f64>()?;
        }
    }
    Ok(counts)
}

/// What happened between two counts: the series that grew, by how much.
pub fn growth(before: &Writes, after: &Writes) -> Writes {
    after
        .iter()
        .filter_map(|(series, n)| {
            let grew = n - before.get(series).copied().unwrap_or(0.0);
            (grew > 0.0).then(|| (series.clone(), grew))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_writes_by_verb_and_resource_but_not_reads_or_leases() {
        let text = r#"
# HELP apiserver_request_total [STABLE] Counter of apiserver requests
apiserver_request_total{code="201",component="apiserver",group="networking.k8s.io",resource="ingresses",scope="resource",subresource="status",verb="APPLY",version="v1"} 3
apiserver_request_total{code="409",component="apiserver",group="networking.k8s.io",resource="ingresses",scope="resource",subresource="status",verb="APPLY",version="v1"} 1
apiserver_request_total{code="200",component="apiserver",group="networking.k8s.io",resource="ingresses",scope="cluster",subresource="",verb="LIST",version="v1"} 9
apiserver_request_total{code="200",component="apiserver",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} 40
"#;
        let before = writes_in(text).unwrap();
        assert_eq!(
            before,
            Writes::from([("APPLY ingresses/status".to_string(), 4.0)])
        );
        let after = Writes::from([
            ("APPLY ingresses/status".to_string(), 6.0),
            ("POST events/".to_string(), 1.0),
        ]);
        assert_eq!(
            growth(&before, &after),
            Writes::from([
                ("APPLY ingresses/status".to_string(), 2.0),
                ("POST events/".to_string(), 1.0)
            ])
        );
    }
}
