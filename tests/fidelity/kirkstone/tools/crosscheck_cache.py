#!/usr/bin/env python3
"""crosscheck_cache.py RECIPES.jsonl

Compares recipes.jsonl (values read from per-target re-parses by dump_recipes.py)
with BitBake's recipe cache from the full parse (tinfoil.cooker.recipecaches['']),
for every parsed target:
  PN                  == pkg_fn[fn]
  (PE, PV, PR)        == pkg_pepvpr[fn]          (None and "" treated alike for PE)
  DEPENDS (exploded, de-duplicated keeping the first occurrence, as the cache does)
                      == deps[fn]
  [PN] + PROVIDES (exploded, de-duplicated) == fn_provides[fn]
  inherit_files       == inherits[fn]  (made relative to the oe-core root)
  RDEPENDS:${PN} (exploded) is contained in rundeps[fn][PN]
and that the set of targets (parsed + skipped) equals the cache's pkg_fn keys +
the skip list.  Prints every mismatch and a summary; exit code 0 always.
Run in the build dir of an initialised environment (warm cache), as the build user.
Our own code; it contains no BitBake or oe-core code.
"""
import json
import sys
from collections import Counter

import bb.cache
import bb.tinfoil
import bb.utils

recs = [json.loads(l) for l in open(sys.argv[1])]


def dedup(xs):
    out = []
    for x in xs:
        if x not in out:
            out.append(x)
    return out


with bb.tinfoil.Tinfoil() as tinfoil:
    tinfoil.prepare(config_only=False, quiet=2)
    corebase = tinfoil.config_data.getVar('COREBASE')
    rc = tinfoil.cooker.recipecaches['']

    def rel(fn):
        return fn.replace(corebase + '/', '')

    pkg_fn = {rel(k): v for k, v in rc.pkg_fn.items()}
    pepvpr = {rel(k): v for k, v in rc.pkg_pepvpr.items()}
    deps = {rel(k): v for k, v in rc.deps.items()}
    provides = {rel(k): v for k, v in rc.fn_provides.items()}
    inherits = {rel(k): [rel(x) for x in v] for k, v in rc.inherits.items()}
    rundeps = {rel(k): v for k, v in rc.rundeps.items()}
    skipped = {rel(k) for k in tinfoil.get_skipped_recipes()}

bad = Counter()
parsed = [r for r in recs if not r['skipped']]
print('targets: jsonl %d parsed + %d skipped; cache %d parsed + %d skipped' % (
    len(parsed), len(recs) - len(parsed), len(pkg_fn), len(skipped)))
if {r['file'] for r in parsed} != set(pkg_fn) or {r['file'] for r in recs if r['skipped']} != skipped:
    print('MISMATCH target sets')
    bad['targets'] += 1
for r in parsed:
    fn = r['file']

    def mism(what, a, b):
        bad[what] += 1
        print('MISMATCH %s %s: jsonl %r cache %r' % (what, fn, a, b))

    if r['PN'] != pkg_fn.get(fn):
        mism('PN', r['PN'], pkg_fn.get(fn))
    pe, pv, pr = pepvpr.get(fn, (None, None, None))
    if (r['PE'] or None, r['PV'], r['PR']) != (pe or None, pv, pr):
        mism('PE/PV/PR', (r['PE'], r['PV'], r['PR']), (pe, pv, pr))
    if dedup(bb.utils.explode_deps(r['DEPENDS'] or '')) != list(deps.get(fn, [])):
        mism('DEPENDS', r['DEPENDS'], deps.get(fn))
    p = dedup([r['PN']] + bb.utils.explode_deps(r['PROVIDES'] or ''))
    if p != list(provides.get(fn, [])):
        mism('PROVIDES', p, provides.get(fn))
    if r['inherit_files'] != inherits.get(fn):
        mism('inherit_files', r['inherit_files'], inherits.get(fn))
    rd = bb.utils.explode_deps(r['RDEPENDS:${PN}'] or '')
    have = rundeps.get(fn, {}).get(r['PN'], [])
    if not set(rd) <= set(have):
        mism('RDEPENDS:${PN}', rd, have)
print('parsed targets checked: %d; mismatches: %s' % (len(parsed), dict(bad) or 0))
