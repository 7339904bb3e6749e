//! Stage two of the task graph: the edges between the tasks provider resolution
//! brought in (BitBake's `RunQueueData.prepare`), the recursive `[recrdeptask]`
//! closure, and the pruning to what the targets need.

use std::collections::{BTreeMap, HashMap};

use rstore_evaluator::graph::Graph;

use super::{Chain, GraphError, GraphRecipe, IdSet, Problem, TaskData, TaskGraph, TaskNode, Tid, chain_to};
use crate::providers::RecipeId;

/// The task names of a flag (`"do_a do_b"`), as interned ids; names no recipe has are
/// dropped (no task can match them).
fn flag_names(td: &TaskData<'_, '_>, value: &str) -> Vec<u32> {
    value.split_whitespace().filter_map(|n| td.task_name_ids.get(n).copied()).collect()
}

/// A set of recipes (by their slot in bring-in order) as a bit set.
struct RecipeSets {
    words: usize,
    bits: Vec<u64>,
}

impl RecipeSets {
    fn new(tasks: usize, recipes: usize) -> RecipeSets {
        let words = recipes.div_ceil(64).max(1);
        RecipeSets { words, bits: vec![0; tasks * words] }
    }

    fn row(&self, t: usize) -> &[u64] {
        &self.bits[t * self.words..(t + 1) * self.words]
    }

    /// `row[to] |= row[from] ∪ {slot}`.
    fn merge_into(&mut self, to: usize, from: usize, slot: usize) {
        let w = self.words;
        let (a, b) = (to * w, from * w);
        for i in 0..w {
            let v = self.bits[b + i];
            self.bits[a + i] |= v;
        }
        self.bits[a + slot / 64] |= 1 << (slot % 64);
    }
}

/// Add `task` of the first provider of each name to `deps`.
fn add_provider_tasks<'n>(
    td: &TaskData<'_, '_>,
    names: impl Iterator<Item = &'n str>,
    runtime: bool,
    tasks: &[u32],
    deps: &mut IdSet,
) {
    for name in names {
        let provider = if runtime { td.run_provider(name) } else { td.build_provider(name) };
        let Some(p) = provider else { continue };
        for &t in tasks {
            if let Some(&tid) = td.tid_of.get(&(p, t)) {
                deps.insert(tid);
            }
        }
    }
}

/// The tasks' dependencies as a graph (node ids are task ids).
fn adjacency(depends: &[IdSet]) -> Graph<()> {
    let edges = depends.iter().map(IdSet::len).sum();
    let mut g: Graph<()> = Graph::with_capacity(depends.len(), edges);
    for _ in depends {
        g.add_node(());
    }
    for (t, deps) in depends.iter().enumerate() {
        g.extend_deps(t, deps.iter().map(|&d| d as usize));
    }
    g
}

pub(super) fn build(td: TaskData<'_, '_>, runlist: Vec<(String, String, RecipeId)>) -> Result<TaskGraph, GraphError> {
    let n = td.entries.len();
    let mut depends: Vec<IdSet> = Vec::with_capacity(n);
    let mut recursive: Vec<(Tid, Vec<u32>)> = Vec::new();
    let mut recursive_set = IdSet::default();
    let mut itasks: HashMap<Tid, Vec<Tid>> = HashMap::new();
    let mut selfref = IdSet::default();

    // Step one: direct edges.
    for (tid, e) in td.entries.iter().enumerate() {
        let tid = tid as Tid;
        let c = td.index.recipe(e.recipe);
        let task = &c.info.tasks[e.task];
        let mut deps = IdSet::default();
        deps.extend(e.tdepends.iter().copied());
        let depids = td.depids.get(&e.recipe).map(Vec::as_slice).unwrap_or_default();
        let rdepids = td.rdepids.get(&e.recipe).map(Vec::as_slice).unwrap_or_default();
        if let Some(v) = task.flag("deptask") {
            let names = flag_names(&td, v);
            add_provider_tasks(&td, depids.iter().map(String::as_str), false, &names, &mut deps);
        }
        if let Some(v) = task.flag("rdeptask") {
            let names = flag_names(&td, v);
            add_provider_tasks(&td, rdepids.iter().map(|(n, _)| n.as_str()), true, &names, &mut deps);
        }
        for (list, runtime) in [(&e.idepends, false), (&e.irdepends, true)] {
            for (name, wanted) in list {
                let provider = if runtime { td.run_provider(name) } else { td.build_provider(name) };
                let Some(p) = provider else { continue };
                match td.tid(p, wanted) {
                    Some(t) => {
                        deps.insert(t);
                    }
                    None => {
                        return Err(GraphError::MissingTask {
                            recipe: c.pn.to_owned(),
                            task: task.name.clone(),
                            flag: if runtime { "rdepends" } else { "depends" },
                            wanted: wanted.clone(),
                            provider: td.pn(p).to_owned(),
                        });
                    }
                }
            }
        }
        if let Some(v) = task.flag("recrdeptask") {
            let names = flag_names(&td, v);
            add_provider_tasks(&td, depids.iter().map(String::as_str), false, &names, &mut deps);
            add_provider_tasks(&td, rdepids.iter().map(|(n, _)| n.as_str()), true, &names, &mut deps);
            if v.split_whitespace().any(|x| x == task.name) {
                selfref.insert(tid);
            }
            if let Some(iv) = task.flag("recideptask") {
                let own: Vec<Tid> = iv.split_whitespace().filter_map(|t| td.tid(e.recipe, t)).collect();
                itasks.insert(tid, own);
            }
            recursive.push((tid, names));
            recursive_set.insert(tid);
        }
        deps.remove(&tid);
        depends.push(deps);
    }

    tracing::debug!("{n} tasks with their direct edges");
    // Step two: the recipes each task reaches (before the recursive edges), propagated
    // from tasks without dependencies in dependency order; tasks on a cycle are never
    // reached and keep what they had (a cycle among needed tasks is reported below).
    let slot: HashMap<RecipeId, usize> = td.order.iter().enumerate().map(|(i, r)| (*r, i)).collect();
    let mut reach = RecipeSets::new(n, td.order.len());
    for t in adjacency(&depends).acyclic_order() {
        for &d in &depends[t] {
            let d = d as usize;
            reach.merge_into(t, d, slot[&td.entries[d].recipe]);
        }
    }

    // Step three: `[recrdeptask]`, until no edge is added.
    let mut by_name: Vec<Vec<Option<Tid>>> = vec![vec![None; td.order.len()]; td.task_names.len()];
    for (tid, e) in td.entries.iter().enumerate() {
        by_name[e.name as usize][slot[&e.recipe]] = Some(tid as Tid);
    }
    loop {
        let mut added = 0usize;
        for (tid, names) in &recursive {
            let tid = *tid;
            let mut total: Vec<Tid> = depends[tid as usize].iter().copied().collect();
            if let Some(own) = itasks.get(&tid) {
                for &o in own {
                    total.push(o);
                    total.extend(depends[o as usize].iter().copied());
                }
            }
            let mut fns = vec![0u64; reach.words];
            for d in total {
                for (acc, w) in fns.iter_mut().zip(reach.row(d as usize)) {
                    *acc |= *w;
                }
            }
            for (wi, word) in fns.iter().enumerate() {
                let mut bits = *word;
                while bits != 0 {
                    let s = wi * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    for &name in names {
                        if let Some(t) = by_name[name as usize][s]
                            && t != tid
                            && depends[tid as usize].insert(t)
                        {
                            added += 1;
                        }
                    }
                }
            }
            // Recursive tasks that depend on other recursive tasks take over their
            // dependencies on the same task names.
            let mut inherited: Vec<Tid> = Vec::new();
            for &d in &depends[tid as usize] {
                if !recursive_set.contains(&d) {
                    continue;
                }
                for &x in &depends[d as usize] {
                    if !depends[tid as usize].contains(&x) && names.contains(&td.entries[x as usize].name) {
                        inherited.push(x);
                    }
                }
            }
            for x in inherited {
                if depends[tid as usize].insert(x) {
                    added += 1;
                }
            }
        }
        tracing::debug!("added {added} recursive dependencies");
        if added == 0 {
            break;
        }
    }
    // `do_a[recrdeptask] = "do_a do_b"` must not make the do_a tasks wait for each other.
    for &tid in &selfref {
        let keep: IdSet = depends[tid as usize].iter().copied().filter(|d| !selfref.contains(d)).collect();
        depends[tid as usize] = keep;
    }

    tracing::debug!("recursive edges done");
    // Step four: keep what the targets need.
    let mut roots: Vec<Tid> = Vec::new();
    let mut target_ids: Vec<Tid> = Vec::new();
    for (name, task, recipe) in &runlist {
        let (task, parents_only) = match task.strip_suffix('-') {
            Some(t) => (t, true),
            None => (task.as_str(), false),
        };
        let Some(tid) = td.tid(*recipe, task) else {
            let c = td.index.recipe(*recipe);
            let mut close: Vec<(usize, String)> = c
                .info
                .tasks
                .iter()
                .map(|t| (crate::providers::edit_distance(task, &t.name), t.name.clone()))
                .filter(|(d, t)| d * 10 <= t.len().max(task.len()) * 3)
                .collect();
            close.sort();
            return Err(GraphError::NoSuchTask {
                target: name.clone(),
                task: task.to_owned(),
                file: c.target.to_owned(),
                close: close.into_iter().take(3).map(|(_, t)| t).collect(),
            });
        };
        if parents_only {
            roots.extend(depends[tid as usize].iter().copied());
        } else {
            roots.push(tid);
            target_ids.push(tid);
        }
    }
    let active = adjacency(&depends).closure(roots.iter().map(|&t| t as usize));

    check_providers(&td, &active, &runlist)?;
    check_ambiguous(&td, &active, &runlist)?;

    // The graph: recipes by PN, tasks by PN then name.
    let mut kept: Vec<Tid> = (0..n as Tid).filter(|&t| active[t as usize]).collect();
    let key = |t: &Tid| {
        let e = &td.entries[*t as usize];
        (td.pn(e.recipe), td.task_names[e.name as usize].as_str())
    };
    kept.sort_by(|a, b| key(a).cmp(&key(b)));
    let mut recipes: Vec<GraphRecipe> = Vec::new();
    let mut recipe_slot: HashMap<RecipeId, usize> = HashMap::new();
    let mut graph: Graph<TaskNode> = Graph::with_capacity(kept.len(), kept.len() * 4);
    let mut node_of: HashMap<Tid, usize> = HashMap::with_capacity(kept.len());
    for &t in &kept {
        let e = &td.entries[t as usize];
        let c = td.index.recipe(e.recipe);
        let r = *recipe_slot.entry(e.recipe).or_insert_with(|| {
            recipes.push(GraphRecipe {
                pn: c.pn.to_owned(),
                target: c.target.to_owned(),
                file: c.info.file.clone(),
                variant: c.info.variant.clone(),
                layer: c.info.layer.clone(),
                version: c.version.label(),
            });
            recipes.len() - 1
        });
        let task = &c.info.tasks[e.task];
        let id = graph.add_node(TaskNode {
            recipe: r,
            task: task.name.clone(),
            noexec: task.flag("noexec").is_some(),
            nostamp: task.flag("nostamp").is_some(),
            fakeroot: task.flag("fakeroot").is_some(),
        });
        node_of.insert(t, id);
    }
    for &t in &kept {
        graph.extend_deps(node_of[&t], depends[t as usize].iter().map(|d| node_of[d]));
    }
    if let Some(cycle) = graph.find_cycle() {
        return Err(GraphError::Cycle(cycle.describe(&graph, |n| format!("{}:{}", recipes[n.recipe].pn, n.task))));
    }
    let mut providers = BTreeMap::new();
    for (name, list) in &td.build_targets {
        if let Some(&p) = list.first()
            && recipe_slot.contains_key(&p)
            && td.pn(p) != name
        {
            providers.insert(name.clone(), td.pn(p).to_owned());
        }
    }
    let mut targets: Vec<usize> = target_ids.iter().map(|t| node_of[t]).collect();
    targets.dedup();
    Ok(TaskGraph { recipes, graph, targets, providers })
}

/// BitBake's check that no two recipes due to be built provide the same name (unless
/// BB_MULTI_PROVIDER_ALLOWED lists it), and that one PN is built in one version only.
fn check_providers(
    td: &TaskData<'_, '_>,
    active: &[bool],
    runlist: &[(String, String, RecipeId)],
) -> Result<(), GraphError> {
    let mut built: Vec<RecipeId> = Vec::new();
    for (t, e) in td.entries.iter().enumerate() {
        if active[t] && !built.contains(&e.recipe) {
            built.push(e.recipe);
        }
    }
    let mut by_name: indexmap::IndexMap<&str, Vec<RecipeId>> = indexmap::IndexMap::new();
    for &r in &built {
        for p in td.index.provides_of(r) {
            let list = by_name.entry(p).or_default();
            if !list.contains(&r) {
                list.push(r);
            }
        }
    }
    let allowed = td.index.config.get("BB_MULTI_PROVIDER_ALLOWED").unwrap_or_default();
    let allowed: Vec<&str> = allowed.split_whitespace().collect();
    let mut problems = Vec::new();
    let roots: Vec<(String, RecipeId)> = runlist.iter().map(|(n, _, r)| (n.clone(), *r)).collect();
    let mut parents = None;
    for (name, list) in by_name {
        if list.len() < 2 || allowed.contains(&name) {
            continue;
        }
        let mut pns: Vec<&str> = Vec::new();
        for &r in &list {
            let pn = td.pn(r);
            if pns.contains(&pn) {
                let files = list.iter().filter(|&&x| td.pn(x) == pn).map(|&x| td.index.recipe(x).target.to_owned());
                return Err(GraphError::Unresolved(vec![Problem::SeveralVersions {
                    pn: pn.to_owned(),
                    files: files.collect(),
                }]));
            }
            pns.push(pn);
        }
        let parents = parents.get_or_insert_with(|| td.chains(&roots));
        let providers = list
            .iter()
            .map(|&r| {
                let chain =
                    if parents.contains_key(&r) { chain_to(td, parents, &roots, r, None) } else { Chain::default() };
                (td.pn(r).to_owned(), chain)
            })
            .collect();
        problems.push(Problem::SeveralProviders { name: name.to_owned(), providers });
    }
    if problems.is_empty() { Ok(()) } else { Err(GraphError::Unresolved(problems)) }
}

/// A name with several eligible providers and no preference is an error when a recipe
/// due to be built needs it (BitBake takes the first and only notes it; a choice made
/// by recipe names is too easily changed by adding a layer).
fn check_ambiguous(
    td: &TaskData<'_, '_>,
    active: &[bool],
    runlist: &[(String, String, RecipeId)],
) -> Result<(), GraphError> {
    if td.ambiguous.is_empty() {
        return Ok(());
    }
    let mut built: Vec<RecipeId> = Vec::new();
    for (t, e) in td.entries.iter().enumerate() {
        if active[t] && !built.contains(&e.recipe) {
            built.push(e.recipe);
        }
    }
    let roots: Vec<(String, RecipeId)> = runlist.iter().map(|(n, _, r)| (n.clone(), *r)).collect();
    let parents = td.chains(&roots);
    let mut problems = Vec::new();
    for (name, runtime, candidates) in &td.ambiguous {
        let wanted_by = built.iter().find_map(|&r| {
            td.wants(r).into_iter().find(|(w, _, rt)| w == name && rt == runtime).map(|(_, via, _)| (r, via))
        });
        let target = !*runtime && runlist.iter().any(|(n, _, _)| n == name);
        let chain = match wanted_by {
            Some((r, via)) => chain_to(td, &parents, &roots, r, Some((name.clone(), via))),
            None if target => Chain(vec![super::Hop { pn: name.clone(), via: super::Via::Target, name: name.clone() }]),
            None => continue,
        };
        problems.push(Problem::Ambiguous {
            name: name.clone(),
            runtime: *runtime,
            candidates: candidates.iter().map(|&c| td.pn(c).to_owned()).collect(),
            chain,
        });
    }
    if problems.is_empty() { Ok(()) } else { Err(GraphError::Unresolved(problems)) }
}
