//! Header edits a route makes to what it passes on (the Gateway API's
//! RequestHeaderModifier and ResponseHeaderModifier): the same policy on both request paths.

use serde::Serialize;

/// Headers to set (replacing any of the name), add (beside any of the name) and remove.
/// Names are lower case.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HeaderEdits {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub set: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

impl HeaderEdits {
    /// Whether a header named `name` that came with the message is dropped: it is removed,
    /// or set anew.
    pub fn drops(&self, name: &[u8]) -> bool {
        self.remove
            .iter()
            .chain(self.set.iter().map(|(n, _)| n))
            .any(|n| n.as_bytes().eq_ignore_ascii_case(name))
    }

    /// The headers to write after those kept: the set ones, then the added ones.
    pub fn written(&self) -> impl Iterator<Item = (&str, &str)> {
        self.set
            .iter()
            .chain(&self.add)
            .map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// These edits, then `later`'s (a rule's, then its backend's): what `later` drops of
    /// these is not written.
    pub fn then(&self, later: &HeaderEdits) -> HeaderEdits {
        let kept = |edits: &[(String, String)]| -> Vec<(String, String)> {
            edits
                .iter()
                .filter(|(n, _)| !later.drops(n.as_bytes()))
                .cloned()
                .collect()
        };
        let mut set = kept(&self.set);
        set.extend(later.set.iter().cloned());
        let mut add = kept(&self.add);
        add.extend(later.add.iter().cloned());
        HeaderEdits {
            set,
            add,
            remove: self.remove.iter().chain(&later.remove).cloned().collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_removed_headers_are_dropped_and_set_ones_written() {
        let edits = HeaderEdits {
            set: vec![("x-a".into(), "1".into())],
            add: vec![("x-b".into(), "2".into())],
            remove: vec!["x-c".into()],
        };
        assert!(edits.drops(b"X-A"));
        assert!(edits.drops(b"x-c"));
        assert!(!edits.drops(b"x-b"));
        let written: Vec<_> = edits.written().collect();
        assert_eq!(written, [("x-a", "1"), ("x-b", "2")]);
    }

    #[test]
    fn later_edits_apply_after_earlier_ones() {
        let rule = HeaderEdits {
            set: vec![("x-a".into(), "1".into()), ("x-b".into(), "1".into())],
            add: vec![("x-c".into(), "1".into())],
            remove: vec!["x-d".into()],
        };
        let backend = HeaderEdits {
            set: vec![("x-a".into(), "2".into())],
            add: vec![("x-e".into(), "2".into())],
            remove: vec!["x-c".into()],
        };
        let both = rule.then(&backend);
        let written: Vec<_> = both.written().collect();
        assert_eq!(written, [("x-b", "1"), ("x-a", "2"), ("x-e", "2")]);
        assert!(both.drops(b"x-d") && both.drops(b"x-c") && both.drops(b"x-a"));
    }
}
