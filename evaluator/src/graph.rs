//! A directed graph of build steps: nodes, "depends on" edges, and what a scheduler
//! needs from them — reachability from targets, cycle detection that names the cycle,
//! a topological order and priorities.
//!
//! An edge `a → b` means *a depends on b* (b runs first). Nodes are numbered in the
//! order they are added; each node's dependencies are kept sorted and free of
//! duplicates, so everything computed here is independent of insertion order except
//! where documented.

use std::collections::BTreeSet;
use std::fmt;

/// The index of a node in its [`Graph`].
pub type NodeId = usize;

/// A directed graph with a payload per node.
#[derive(Debug, Clone)]
pub struct Graph<N> {
    nodes: Vec<N>,
    deps: Vec<BTreeSet<NodeId>>,
}

impl<N> Default for Graph<N> {
    fn default() -> Self {
        Graph { nodes: Vec::new(), deps: Vec::new() }
    }
}

/// A dependency cycle: each node depends on the next, and the last on the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle(pub Vec<NodeId>);

/// A cycle described by node names, ready to be shown to a user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dependency cycle: {}", cycle_text(.0))]
pub struct CycleError(pub Vec<String>);

fn cycle_text(names: &[String]) -> String {
    let mut parts: Vec<&str> = names.iter().map(String::as_str).collect();
    if let Some(first) = names.first() {
        parts.push(first);
    }
    parts.join(" -> ")
}

impl Cycle {
    /// Name the nodes of the cycle.
    pub fn describe<N>(&self, graph: &Graph<N>, name: impl Fn(&N) -> String) -> CycleError {
        CycleError(self.0.iter().map(|&n| name(graph.node(n))).collect())
    }
}

impl<N> Graph<N> {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty graph with room for `n` nodes.
    pub fn with_capacity(n: usize) -> Self {
        Graph { nodes: Vec::with_capacity(n), deps: Vec::with_capacity(n) }
    }

    /// Add a node; returns its id.
    pub fn add_node(&mut self, node: N) -> NodeId {
        self.nodes.push(node);
        self.deps.push(BTreeSet::new());
        self.nodes.len() - 1
    }

    /// Record that `from` depends on `to`. Returns false when the edge already existed.
    ///
    /// # Panics
    /// When either id is not a node of this graph (a caller bug, never user input).
    pub fn add_edge(&mut self, from: NodeId, to: NodeId) -> bool {
        assert!(to < self.nodes.len(), "edge to unknown node {to}");
        self.deps[from].insert(to)
    }

    /// Remove the edge `from → to`, if present.
    pub fn remove_edge(&mut self, from: NodeId, to: NodeId) -> bool {
        self.deps[from].remove(&to)
    }

    /// Whether `from` depends directly on `to`.
    pub fn has_edge(&self, from: NodeId, to: NodeId) -> bool {
        self.deps[from].contains(&to)
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The number of edges.
    pub fn edge_count(&self) -> usize {
        self.deps.iter().map(BTreeSet::len).sum()
    }

    /// The payload of a node.
    pub fn node(&self, id: NodeId) -> &N {
        &self.nodes[id]
    }

    /// Every node with its id, in id order.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &N)> {
        self.nodes.iter().enumerate()
    }

    /// The direct dependencies of a node, in id order.
    pub fn deps(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.deps[id].iter().copied()
    }

    /// The direct dependencies of a node as a set.
    pub fn dep_set(&self, id: NodeId) -> &BTreeSet<NodeId> {
        &self.deps[id]
    }

    /// Every edge `(from, to)`, ordered by `from` then `to`.
    pub fn edges(&self) -> impl Iterator<Item = (NodeId, NodeId)> + '_ {
        self.deps.iter().enumerate().flat_map(|(from, d)| d.iter().map(move |&to| (from, to)))
    }

    /// For every node, the nodes that depend on it directly (in id order).
    pub fn dependents(&self) -> Vec<Vec<NodeId>> {
        let mut rev = vec![Vec::new(); self.nodes.len()];
        for (from, to) in self.edges() {
            rev[to].push(from);
        }
        rev
    }

    /// The nodes `roots` depend on, directly or not, the roots included.
    pub fn closure(&self, roots: impl IntoIterator<Item = NodeId>) -> Vec<bool> {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack: Vec<NodeId> = Vec::new();
        for r in roots {
            if !seen[r] {
                seen[r] = true;
                stack.push(r);
            }
        }
        while let Some(n) = stack.pop() {
            for &d in &self.deps[n] {
                if !seen[d] {
                    seen[d] = true;
                    stack.push(d);
                }
            }
        }
        seen
    }

    /// The graph restricted to the nodes marked in `keep`, renumbered in the same order;
    /// also returns, for each old id, its new id.
    pub fn subgraph(self, keep: &[bool]) -> (Graph<N>, Vec<Option<NodeId>>) {
        let mut map = vec![None; self.nodes.len()];
        let mut next = 0;
        for (i, k) in keep.iter().enumerate().take(self.nodes.len()) {
            if *k {
                map[i] = Some(next);
                next += 1;
            }
        }
        let mut out = Graph::with_capacity(next);
        for (i, (node, deps)) in self.nodes.into_iter().zip(self.deps).enumerate() {
            if map[i].is_none() {
                continue;
            }
            let id = out.add_node(node);
            out.deps[id] = deps.iter().filter_map(|&d| map[d]).collect();
        }
        (out, map)
    }

    /// A cycle, if the graph has one: the first found by a depth-first search from the
    /// lowest node id, rotated to start at its lowest id.
    pub fn find_cycle(&self) -> Option<Cycle> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        let mut mark = vec![Mark::New; self.nodes.len()];
        for start in 0..self.nodes.len() {
            if mark[start] != Mark::New {
                continue;
            }
            // (node, its dependencies not yet visited)
            let mut stack: Vec<(NodeId, std::collections::btree_set::Iter<'_, NodeId>)> = Vec::new();
            mark[start] = Mark::Open;
            stack.push((start, self.deps[start].iter()));
            while let Some((node, iter)) = stack.last_mut() {
                let node = *node;
                match iter.next() {
                    Some(&d) => match mark[d] {
                        Mark::New => {
                            mark[d] = Mark::Open;
                            stack.push((d, self.deps[d].iter()));
                        }
                        Mark::Open => {
                            let pos = stack.iter().position(|(n, _)| *n == d).unwrap_or(0);
                            let mut cycle: Vec<NodeId> = stack[pos..].iter().map(|(n, _)| *n).collect();
                            let lowest = cycle.iter().enumerate().min_by_key(|(_, n)| **n).map_or(0, |(i, _)| i);
                            cycle.rotate_left(lowest);
                            return Some(Cycle(cycle));
                        }
                        Mark::Done => {}
                    },
                    None => {
                        mark[node] = Mark::Done;
                        stack.pop();
                    }
                }
            }
        }
        None
    }

    /// Every node, dependencies before the nodes that need them (ties broken by id).
    pub fn topological_order(&self) -> Result<Vec<NodeId>, Cycle> {
        let mut missing: Vec<usize> = self.deps.iter().map(BTreeSet::len).collect();
        let rev = self.dependents();
        let mut ready: BTreeSet<NodeId> = (0..self.nodes.len()).filter(|&n| missing[n] == 0).collect();
        let mut order = Vec::with_capacity(self.nodes.len());
        while let Some(n) = ready.pop_first() {
            order.push(n);
            for &r in &rev[n] {
                missing[r] -= 1;
                if missing[r] == 0 {
                    ready.insert(r);
                }
            }
        }
        if order.len() == self.nodes.len() {
            Ok(order)
        } else {
            Err(self.find_cycle().expect("nodes left over by a topological sort lie on or behind a cycle"))
        }
    }

    /// A priority per node, BitBake's task weight: nodes nothing depends on weigh 10,
    /// every other node 1 plus the weights of the nodes that depend on it, so work many
    /// things wait for comes first. Saturates instead of overflowing.
    pub fn weights(&self) -> Result<Vec<u64>, Cycle> {
        let order = self.topological_order()?;
        let rev = self.dependents();
        let mut weight = vec![1u64; self.nodes.len()];
        for &n in order.iter().rev() {
            if rev[n].is_empty() {
                weight[n] = 10;
            }
            let w = weight[n];
            for &d in &self.deps[n] {
                weight[d] = weight[d].saturating_add(w);
            }
        }
        Ok(weight)
    }
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.0.iter().map(|n| n.to_string()).collect();
        f.write_str(&cycle_text(&names))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> Graph<String> {
        let mut g = Graph::new();
        for i in 0..n {
            g.add_node(format!("n{i}"));
        }
        for i in 1..n {
            g.add_edge(i, i - 1);
        }
        g
    }

    #[test]
    fn topological_order_puts_dependencies_first() {
        let mut g = chain(4);
        g.add_edge(3, 0);
        assert_eq!(g.topological_order().unwrap(), vec![0, 1, 2, 3]);
        assert!(g.find_cycle().is_none());
    }

    #[test]
    fn duplicate_edges_are_ignored() {
        let mut g = chain(2);
        assert!(!g.add_edge(1, 0));
        assert_eq!(g.edge_count(), 1);
    }

    #[test]
    fn a_cycle_is_found_and_named() {
        let mut g = chain(4);
        g.add_edge(0, 2);
        let cycle = g.topological_order().unwrap_err();
        assert_eq!(cycle, Cycle(vec![0, 2, 1]));
        let err = cycle.describe(&g, |s| s.clone());
        assert_eq!(err.to_string(), "dependency cycle: n0 -> n2 -> n1 -> n0");
    }

    #[test]
    fn a_self_loop_is_a_cycle() {
        let mut g = chain(2);
        g.add_edge(1, 1);
        assert_eq!(g.find_cycle(), Some(Cycle(vec![1])));
    }

    #[test]
    fn closure_and_subgraph_keep_what_roots_need() {
        let mut g = chain(5);
        g.add_node("lonely".to_owned());
        let keep = g.closure([2]);
        assert_eq!(keep, vec![true, true, true, false, false, false]);
        let (sub, map) = g.subgraph(&keep);
        assert_eq!(sub.len(), 3);
        assert_eq!(map[2], Some(2));
        assert_eq!(map[4], None);
        assert_eq!(sub.edges().collect::<Vec<_>>(), vec![(1, 0), (2, 1)]);
    }

    #[test]
    fn weights_favour_what_many_wait_for() {
        // 2 and 1 both depend on 0; nothing depends on 2 or 1.
        let mut g = chain(2);
        g.add_node("n2".to_owned());
        g.add_edge(2, 0);
        assert_eq!(g.weights().unwrap(), vec![21, 10, 10]);
    }
}
