//! The one graph type of rstore: the task graph the importer computes, the graph the
//! realisation engine schedules and the graphs snapshots hash are all a [`Graph`].
//!
//! An edge `a → b` means *a depends on b* (b runs first). Nodes are numbered in the
//! order they are added (dense ids from 0); an edge may carry a payload (`E`, for the
//! engine the kind of input). Between two nodes there is at most one edge. Everything
//! computed here is independent of insertion order: dependency lists come back in id
//! order, ties in orders are broken by id, and the cycle reported is the shortest one
//! through the lowest node on any cycle.
//!
//! Storage and the graph algorithms that need no determinism of their own (strongly
//! connected components, reachability) are `petgraph`'s.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;

use petgraph::Direction::{Incoming, Outgoing};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

/// The index of a node in its [`Graph`].
pub type NodeId = usize;

/// A directed graph with a payload per node and per edge.
#[derive(Debug, Clone)]
pub struct Graph<N, E = ()> {
    inner: DiGraph<N, E, u32>,
}

impl<N, E> Default for Graph<N, E> {
    fn default() -> Self {
        Graph { inner: DiGraph::default() }
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
    pub fn describe<N, E>(&self, graph: &Graph<N, E>, name: impl Fn(&N) -> String) -> CycleError {
        CycleError(self.0.iter().map(|&n| name(graph.node(n))).collect())
    }
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.0.iter().map(|n| n.to_string()).collect();
        f.write_str(&cycle_text(&names))
    }
}

fn ix(id: NodeId) -> NodeIndex<u32> {
    NodeIndex::new(id)
}

impl<N, E> Graph<N, E> {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty graph with room for `nodes` nodes and `edges` edges.
    pub fn with_capacity(nodes: usize, edges: usize) -> Self {
        Graph { inner: DiGraph::with_capacity(nodes, edges) }
    }

    /// Add a node; returns its id.
    pub fn add_node(&mut self, node: N) -> NodeId {
        self.inner.add_node(node).index()
    }

    /// Record that `from` depends on `to`, with `edge` as the edge's payload. Returns
    /// false (and keeps the existing payload) when the edge already existed.
    ///
    /// # Panics
    /// When either id is not a node of this graph (a caller bug, never user input).
    pub fn add_edge_with(&mut self, from: NodeId, to: NodeId, edge: E) -> bool {
        assert!(from < self.len() && to < self.len(), "edge {from} -> {to} names an unknown node");
        if self.inner.find_edge(ix(from), ix(to)).is_some() {
            return false;
        }
        self.inner.add_edge(ix(from), ix(to), edge);
        true
    }

    /// Record that `from` depends on each of `to` (with default payloads), skipping
    /// edges that exist already: one pass over `from`'s dependencies, however many are
    /// added. Returns how many edges were added.
    ///
    /// # Panics
    /// When an id is not a node of this graph (a caller bug, never user input).
    pub fn extend_deps(&mut self, from: NodeId, to: impl IntoIterator<Item = NodeId>) -> usize
    where
        E: Default,
    {
        let mut new: Vec<NodeId> = to.into_iter().collect();
        new.sort_unstable();
        new.dedup();
        let existing: std::collections::HashSet<NodeId> = self.deps_unordered(from).collect();
        let mut added = 0;
        for t in new {
            assert!(from < self.len() && t < self.len(), "edge {from} -> {t} names an unknown node");
            if !existing.contains(&t) {
                self.inner.add_edge(ix(from), ix(t), E::default());
                added += 1;
            }
        }
        added
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.inner.node_count()
    }

    /// Whether the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.inner.node_count() == 0
    }

    /// The number of edges.
    pub fn edge_count(&self) -> usize {
        self.inner.edge_count()
    }

    /// The payload of a node.
    ///
    /// # Panics
    /// When `id` is not a node of this graph.
    pub fn node(&self, id: NodeId) -> &N {
        &self.inner[ix(id)]
    }

    /// Every node with its id, in id order.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &N)> {
        self.inner.node_indices().map(|i| (i.index(), &self.inner[i]))
    }

    /// The direct dependencies of a node, in id order.
    pub fn deps(&self, id: NodeId) -> std::vec::IntoIter<NodeId> {
        let mut v: Vec<NodeId> = self.deps_unordered(id).collect();
        v.sort_unstable();
        v.into_iter()
    }

    /// The direct dependencies of a node with their edge payloads, in id order.
    pub fn deps_with_edges(&self, id: NodeId) -> Vec<(NodeId, &E)> {
        let mut v: Vec<(NodeId, &E)> =
            self.inner.edges_directed(ix(id), Outgoing).map(|e| (e.target().index(), e.weight())).collect();
        v.sort_unstable_by_key(|(n, _)| *n);
        v
    }

    /// The direct dependencies of a node in no particular order (no allocation: for
    /// loops whose result does not depend on the order).
    pub fn deps_unordered(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.inner.neighbors_directed(ix(id), Outgoing).map(|n| n.index())
    }

    /// The nodes that depend on `id` directly, in no particular order.
    pub fn dependents_unordered(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.inner.neighbors_directed(ix(id), Incoming).map(|n| n.index())
    }

    /// The nodes that depend on `id` directly, in id order.
    pub fn dependents(&self, id: NodeId) -> Vec<NodeId> {
        let mut v: Vec<NodeId> = self.dependents_unordered(id).collect();
        v.sort_unstable();
        v
    }

    /// Every edge `(from, to)`, ordered by `from` then `to`.
    pub fn edges(&self) -> Vec<(NodeId, NodeId)> {
        let mut v: Vec<(NodeId, NodeId)> =
            self.inner.edge_references().map(|e| (e.source().index(), e.target().index())).collect();
        v.sort_unstable();
        v
    }

    /// The nodes `roots` depend on, directly or not, the roots included.
    pub fn closure(&self, roots: impl IntoIterator<Item = NodeId>) -> Vec<bool> {
        self.reach(roots, Outgoing, true)
    }

    /// The nodes that depend on `root`, directly or not (`root` itself only when it is
    /// on a cycle).
    pub fn dependents_closure(&self, root: NodeId) -> Vec<bool> {
        self.reach([root], Incoming, false)
    }

    fn reach(
        &self,
        roots: impl IntoIterator<Item = NodeId>,
        dir: petgraph::Direction,
        include_roots: bool,
    ) -> Vec<bool> {
        let mut seen = vec![false; self.len()];
        let mut stack: Vec<NodeId> = Vec::new();
        for r in roots {
            if include_roots {
                if !seen[r] {
                    seen[r] = true;
                    stack.push(r);
                }
            } else {
                stack.extend(self.inner.neighbors_directed(ix(r), dir).map(|n| n.index()));
            }
        }
        if !include_roots {
            for &n in &stack {
                seen[n] = true;
            }
            stack.sort_unstable();
            stack.dedup();
        }
        while let Some(n) = stack.pop() {
            for d in self.inner.neighbors_directed(ix(n), dir) {
                let d = d.index();
                if !seen[d] {
                    seen[d] = true;
                    stack.push(d);
                }
            }
        }
        seen
    }

    /// A cycle, if the graph has one: the shortest cycle through the lowest node that
    /// lies on any cycle, starting at that node. Every node named is on the cycle.
    pub fn find_cycle(&self) -> Option<Cycle> {
        // The lowest node of a strongly connected component with more than one node,
        // or with a self-loop.
        let start = petgraph::algo::tarjan_scc(&self.inner)
            .into_iter()
            .filter(|scc| scc.len() > 1 || self.inner.find_edge(scc[0], scc[0]).is_some())
            .filter_map(|scc| scc.into_iter().map(|n| n.index()).min())
            .min()?;
        // Breadth-first from `start` along dependencies, in id order, until it is reached again.
        let mut parent: Vec<Option<NodeId>> = vec![None; self.len()];
        let mut queue = VecDeque::from([start]);
        let mut seen = vec![false; self.len()];
        seen[start] = true;
        while let Some(n) = queue.pop_front() {
            for d in self.deps(n) {
                if d == start {
                    let mut cycle = vec![n];
                    let mut at = n;
                    while let Some(p) = parent[at] {
                        cycle.push(p);
                        at = p;
                    }
                    cycle.reverse();
                    return Some(Cycle(cycle));
                }
                if !seen[d] {
                    seen[d] = true;
                    parent[d] = Some(n);
                    queue.push_back(d);
                }
            }
        }
        // Unreachable: `start` lies on a cycle, so the search comes back to it.
        Some(Cycle(vec![start]))
    }

    /// Every node, dependencies before the nodes that need them (ties broken by id).
    pub fn topological_order(&self) -> Result<Vec<NodeId>, Cycle> {
        let order = self.acyclic_order();
        if order.len() == self.len() { Ok(order) } else { Err(self.find_cycle().unwrap_or(Cycle(Vec::new()))) }
    }

    /// The nodes that are neither on a cycle nor depend on one, dependencies first
    /// (ties broken by id): every node when the graph is acyclic.
    pub fn acyclic_order(&self) -> Vec<NodeId> {
        let mut missing: Vec<usize> = (0..self.len()).map(|n| self.deps_unordered(n).count()).collect();
        let mut ready: BinaryHeap<Reverse<NodeId>> =
            (0..self.len()).filter(|&n| missing[n] == 0).map(Reverse).collect();
        let mut order = Vec::with_capacity(self.len());
        while let Some(Reverse(n)) = ready.pop() {
            order.push(n);
            for r in self.dependents_unordered(n) {
                missing[r] -= 1;
                if missing[r] == 0 {
                    ready.push(Reverse(r));
                }
            }
        }
        order
    }

    /// A priority per node, BitBake's task weight: nodes nothing depends on weigh 10,
    /// every other node 1 plus the weights of the nodes that depend on it, so work many
    /// things wait for comes first. Saturates instead of overflowing.
    pub fn weights(&self) -> Result<Vec<u64>, Cycle> {
        let order = self.topological_order()?;
        let mut weight = vec![1u64; self.len()];
        for &n in order.iter().rev() {
            if self.dependents_unordered(n).next().is_none() {
                weight[n] = 10;
            }
            let w = weight[n];
            for d in self.deps_unordered(n) {
                weight[d] = weight[d].saturating_add(w);
            }
        }
        Ok(weight)
    }
}

impl<N, E: Default> Graph<N, E> {
    /// Record that `from` depends on `to`. Returns false when the edge already existed.
    ///
    /// # Panics
    /// When either id is not a node of this graph (a caller bug, never user input).
    pub fn add_edge(&mut self, from: NodeId, to: NodeId) -> bool {
        self.add_edge_with(from, to, E::default())
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
    fn ties_are_broken_by_id_whatever_the_insertion_order() {
        let mut g: Graph<()> = Graph::new();
        for _ in 0..4 {
            g.add_node(());
        }
        g.add_edge(0, 3);
        g.add_edge(0, 1);
        g.add_edge(0, 2);
        assert_eq!(g.topological_order().unwrap(), vec![1, 2, 3, 0]);
        assert_eq!(g.deps(0).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(g.edges(), vec![(0, 1), (0, 2), (0, 3)]);
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
    fn the_cycle_names_only_nodes_on_it() {
        // 0 depends on the cycle 1 -> 2 -> 3 -> 1 but is not on it; 4 hangs below 3.
        let mut g: Graph<()> = Graph::new();
        for _ in 0..5 {
            g.add_node(());
        }
        for (a, b) in [(0, 1), (1, 2), (2, 3), (3, 1), (3, 4)] {
            g.add_edge(a, b);
        }
        let cycle = g.find_cycle().unwrap();
        assert_eq!(cycle, Cycle(vec![1, 2, 3]));
        assert_eq!(g.topological_order().unwrap_err(), cycle);
    }

    #[test]
    fn a_self_loop_is_a_cycle() {
        let mut g = chain(2);
        g.add_edge(1, 1);
        assert_eq!(g.find_cycle(), Some(Cycle(vec![1])));
    }

    #[test]
    fn closure_and_dependents() {
        let mut g = chain(5);
        g.add_node("lonely".to_owned());
        assert_eq!(g.closure([2]), vec![true, true, true, false, false, false]);
        assert_eq!(g.dependents_closure(2), vec![false, false, false, true, true, false]);
        assert_eq!(g.dependents(2), vec![3]);
    }

    #[test]
    fn weights_favour_what_many_wait_for() {
        // 2 and 1 both depend on 0; nothing depends on 2 or 1.
        let mut g = chain(2);
        g.add_node("n2".to_owned());
        g.add_edge(2, 0);
        assert_eq!(g.weights().unwrap(), vec![21, 10, 10]);
    }

    #[test]
    fn edges_carry_payloads() {
        let mut g: Graph<(), u8> = Graph::new();
        g.add_node(());
        g.add_node(());
        g.add_node(());
        g.add_edge_with(0, 2, 7);
        g.add_edge_with(0, 1, 5);
        assert!(!g.add_edge_with(0, 1, 9));
        assert_eq!(g.deps_with_edges(0), vec![(1, &5), (2, &7)]);
    }
}
