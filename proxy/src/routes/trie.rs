//! Longest element-wise prefix match over `/`-separated path elements.

use std::collections::HashMap;

use serde::Serialize;
use sluice_crds::ingress::path::elements;

/// Prefix paths by element, so a lookup costs one step per element of the request path,
/// however many prefixes the host has.
#[derive(Debug)]
pub struct PrefixTrie<T> {
    root: Node<T>,
    len: usize,
}

#[derive(Debug)]
struct Node<T> {
    value: Option<T>,
    children: HashMap<Box<str>, Node<T>>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Self {
            value: None,
            children: HashMap::new(),
        }
    }
}

impl<T> Default for PrefixTrie<T> {
    fn default() -> Self {
        Self {
            root: Node::default(),
            len: 0,
        }
    }
}

impl<T> PrefixTrie<T> {
    /// Sets the value of a prefix, replacing any earlier one.
    pub fn insert(&mut self, prefix: &str, value: T) {
        let mut node = &mut self.root;
        for element in elements(prefix) {
            node = node.children.entry(element.into()).or_default();
        }
        if node.value.replace(value).is_none() {
            self.len += 1;
        }
    }

    /// The value of the longest prefix whose elements all begin `path`.
    pub fn longest_match(&self, path: &str) -> Option<&T> {
        let mut node = &self.root;
        let mut best = node.value.as_ref();
        for element in elements(path) {
            match node.children.get(element) {
                Some(child) => {
                    node = child;
                    if node.value.is_some() {
                        best = node.value.as_ref();
                    }
                }
                None => break,
            }
        }
        best
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every (prefix, value), for `/routes`.
    pub fn entries(&self) -> Vec<(String, &T)> {
        let mut out = Vec::with_capacity(self.len);
        let mut stack = vec![(String::new(), &self.root)];
        while let Some((prefix, node)) = stack.pop() {
            if let Some(v) = &node.value {
                out.push((
                    if prefix.is_empty() {
                        "/".into()
                    } else {
                        prefix.clone()
                    },
                    v,
                ));
            }
            for (element, child) in &node.children {
                stack.push((format!("{prefix}/{element}"), child));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

impl<T: Serialize> Serialize for PrefixTrie<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.entries())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_element_prefix_wins() {
        let mut t = PrefixTrie::default();
        t.insert("/", "root");
        t.insert("/aaa", "aaa");
        t.insert("/aaa/bbb", "bbb");
        assert_eq!(t.longest_match("/aaa/ccc"), Some(&"aaa"));
        assert_eq!(t.longest_match("/aaa/bbb"), Some(&"bbb"));
        assert_eq!(t.longest_match("/aaa/bbb/"), Some(&"bbb"));
        assert_eq!(t.longest_match("/aaa/bbbxyz"), Some(&"aaa"));
        assert_eq!(t.longest_match("/ccc"), Some(&"root"));
        assert_eq!(t.longest_match(""), Some(&"root"));
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn no_root_means_no_match_outside_the_prefixes() {
        let mut t = PrefixTrie::default();
        t.insert("/aaa/bbb", 1);
        assert_eq!(t.longest_match("/aaa"), None);
        assert_eq!(t.longest_match("/ccc"), None);
        assert_eq!(t.entries(), vec![("/aaa/bbb".to_string(), &1)]);
    }
}
