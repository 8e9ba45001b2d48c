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

    /// The value of a prefix, created empty when it has none.
    pub fn get_or_insert_default(&mut self, prefix: &str) -> &mut T
    where
        T: Default,
    {
        let mut node = &mut self.root;
        for element in elements(prefix) {
            // The element is copied only for a new node.
            if !node.children.contains_key(element) {
                node.children.insert(element.into(), Node::default());
            }
            node = node
                .children
                .get_mut(element)
                .expect("the node was there or has just been inserted");
        }
        if node.value.is_none() {
            self.len += 1;
        }
        node.value.get_or_insert_with(T::default)
    }

    /// The value of the longest prefix whose elements all begin `path`.
    pub fn longest_match(&self, path: &str) -> Option<&T> {
        self.matches(path).next()
    }

    /// The values of every prefix whose elements all begin `path`, the longest first.
    /// Each step walks the path again (below the last prefix found) rather than keep the
    /// nodes it passed: no allocation, and the common lookup stops at the first.
    pub fn matches<'t>(&'t self, path: &str) -> impl Iterator<Item = &'t T> {
        let mut below = usize::MAX;
        std::iter::from_fn(move || {
            let (depth, value) = self.deepest(path, below)?;
            below = depth;
            Some(value)
        })
    }

    /// The longest prefix of `path` with fewer than `below` elements that has a value: its
    /// element count and value.
    fn deepest(&self, path: &str, below: usize) -> Option<(usize, &T)> {
        let limit = below.checked_sub(1)?;
        let mut node = &self.root;
        let mut best = node.value.as_ref().map(|v| (0, v));
        for (depth, element) in (1..=limit).zip(elements(path)) {
            match node.children.get(element) {
                Some(child) => {
                    node = child;
                    if let Some(v) = &node.value {
                        best = Some((depth, v));
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

    /// Every value, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        let mut stack = vec![&self.root];
        std::iter::from_fn(move || {
            loop {
                let node = stack.pop()?;
                stack.extend(node.children.values());
                if let Some(value) = &node.value {
                    return Some(value);
                }
            }
        })
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
    fn every_matching_prefix_longest_first() {
        let mut t = PrefixTrie::default();
        t.insert("/", "root");
        t.insert("/a", "a");
        t.insert("/a/b/c", "c");
        t.insert("/a/x", "x");
        let all = |path| t.matches(path).copied().collect::<Vec<_>>();
        assert_eq!(all("/a/b/c/d"), ["c", "a", "root"]);
        assert_eq!(all("/a/b"), ["a", "root"]);
        assert_eq!(all("/a/bc"), ["a", "root"]);
        assert_eq!(all("/z"), ["root"]);
        let mut no_root = PrefixTrie::default();
        no_root.insert("/a/b", 2);
        no_root.insert("/a", 1);
        assert_eq!(
            no_root.matches("/a/b/").copied().collect::<Vec<_>>(),
            [2, 1]
        );
        assert_eq!(no_root.matches("/b").count(), 0);
    }

    #[test]
    fn a_slot_is_created_once() {
        let mut t: PrefixTrie<Vec<u8>> = PrefixTrie::default();
        t.get_or_insert_default("/a/").push(1);
        t.get_or_insert_default("/a").push(2);
        assert_eq!(t.len(), 1);
        assert_eq!(t.longest_match("/a/b"), Some(&vec![1, 2]));
    }

    #[test]
    fn no_root_means_no_match_outside_the_prefixes() {
        let mut t = PrefixTrie::default();
        t.insert("/aaa/bbb", 1);
        assert_eq!(t.longest_match("/aaa"), None);
        assert_eq!(t.longest_match("/ccc"), None);
        assert_eq!(t.entries(), vec![("/aaa/bbb".to_string(), &1)]);
        assert_eq!(t.values().collect::<Vec<_>>(), [&1]);
    }
}
