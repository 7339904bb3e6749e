#!/usr/bin/env python3
"""summarize_graph.py TASK-DEPENDS.DOT PN-BUILDLIST OUT.json TARGET [HEADER-INFO [GRAPH-SECONDS]]

Counts the task graph written by `bitbake -g <target>`:
  n_tasks   = node declaration lines ("pn.do_x" [label="pn do_x\\n:ver\\nfile"])
  n_edges   = '->' lines
  recipes   = lines of pn-buildlist / distinct recipe names (first word of the labels) in the dot
  task_name_counts = number of recipes in the graph that have each task name
  native_recipes   = pn-buildlist entries ending in "-native"
  cross_or_other   = pn-buildlist entries containing "cross" (sorted)
Writes OUT.json (same keys as the other references) and prints task-graph-summary.md
to stdout. HEADER-INFO is a free text put in the Markdown's first paragraph.
Our own code; it only reads BitBake's output files.
"""
import json
import re
import sys
from collections import Counter

dot, buildlist, out, target = sys.argv[1:5]
info = sys.argv[5] if len(sys.argv) > 5 else ''
secs = sys.argv[6] if len(sys.argv) > 6 else None

# label = "<pn> <task>\n<pe>:<pv>-<pr>\n<file>"  (literal backslash-n in the dot text)
node = re.compile(r'^"([^"]+)" \[label="([^\s\\]+) ([^\s\\]+)\\n')
edge = re.compile(r'^"([^"]+)" -> "([^"]+)"')
tasks, edges, pns, names = set(), 0, set(), Counter()
for line in open(dot):
    m = node.match(line)
    if m:
        tasks.add(m.group(1))
        pns.add(m.group(2))
        names[m.group(3)] += 1
    elif edge.match(line):
        edges += 1
pnlist = [l.strip() for l in open(buildlist) if l.strip()]
res = {
    'target': target,
    'n_tasks': len(tasks),
    'n_edges': edges,
    'n_recipes_pn_buildlist': len(pnlist),
    'n_recipes_in_dot': len(pns),
    'n_distinct_task_names': len(names),
    'task_name_counts': dict(sorted(names.items())),
    'native_recipes': sum(1 for p in pnlist if p.endswith('-native')),
    'cross_or_other': sorted(p for p in pnlist if 'cross' in p),
}
with open(out, 'w') as f:
    json.dump(res, f, indent=1)

print('# %s task graph (bitbake -g), kirkstone\n' % target)
print('Produced in the build dir with `bitbake -g %s` (%s; see README.md). Files: `task-depends.dot.zst`, '
      '`pn-buildlist`; machine-readable numbers in `%s-graph-summary.json`.\n' % (target, info, target))
print('Counted from task-depends.dot (nodes = tasks, edges = task dependencies; setscene tasks are not part '
      'of this graph) and pn-buildlist:\n')
print('- tasks (nodes): %d, dependency edges: %d' % (res['n_tasks'], res['n_edges']))
print('- recipes: %d in pn-buildlist (%d of them -native), %d distinct recipe names in the dot'
      % (res['n_recipes_pn_buildlist'], res['native_recipes'], res['n_recipes_in_dot']))
print('- distinct task names: %d' % res['n_distinct_task_names'])
for k, v in res['task_name_counts'].items():
    print('  - %s (%d)' % (k, v))
print('\nTask names are listed with the number of recipes in the graph that have them.'
      + (' `bitbake -g` took %s s with a warm parse cache.' % secs if secs else ''))
