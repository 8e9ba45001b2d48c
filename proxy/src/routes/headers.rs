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
}
