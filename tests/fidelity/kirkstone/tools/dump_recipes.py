#!/usr/bin/env python3
"""dump_recipes.py OUT.jsonl

Writes recipes.jsonl (one JSON object per recipe target, sorted by real file,
then virtual filename) by driving the real BitBake through tinfoil.  Run it in
the build dir of an initialised environment (oe-init-build-env), as the build
user, e.g.  <tools>/bbenv.sh SCRATCH python3 <tools>/dump_recipes.py ../out/recipes.jsonl

Method (same as the existing references, see their README "recipes.jsonl fields"):
  * tinfoil.prepare(config_only=False): full parse (or parse cache) of all recipes;
  * targets = tinfoil.all_recipe_files(variants=True)  (parsed targets, incl.
    BBCLASSEXTEND / mcextend / devupstream variants)
    + tinfoil.get_skipped_recipes()                  (skipped targets);
  * for each parsed target: d = tinfoil.parse_recipe_file(fn) (fresh full parse of
    that target, bbappends applied) and read the values below from d, then release
    the remote datastore;
  * skipped targets: PN, skipreason and PROVIDES from BitBake's skip list.

Fields of a parsed target, in this order:
  file realfile variant skipped PN PV PR PE DEPENDS PROVIDES PACKAGES SRC_URI S LICENSE
  RDEPENDS:${PN} S_unexpanded inherit_files inherits tasks __BBTASKS
Fields of a skipped target:
  file realfile variant skipped PN skipreason PROVIDES

Path conventions: file / realfile / inherit_files are relative to the oe-core root;
in all other string values the machine's scratch locations are replaced by
${TOPDIR} (build dir), ${COREBASE} (oe-core root), ${BITBAKEDIR} and ${SCRATCH}
(their common parent).  The script fails if the scratch path survives anywhere.
This is our own code; it contains no BitBake or oe-core code.
"""
import json
import os
import sys
import time

import bb.cache
import bb.tinfoil

VARS = ['PN', 'PV', 'PR', 'PE', 'DEPENDS', 'PROVIDES', 'PACKAGES', 'SRC_URI', 'S', 'LICENSE']
# task flags BitBake's bb.build.add_tasks() records in _task_deps, in output order
TASKFLAGS = ['depends', 'rdepends', 'deptask', 'rdeptask', 'recrdeptask', 'recideptask',
             'mcdepends', 'noexec', 'nostamp', 'fakeroot', 'umask']


def main(out):
    t0 = time.time()
    with bb.tinfoil.Tinfoil() as tinfoil:
        tinfoil.prepare(config_only=False, quiet=2)
        cd = tinfoil.config_data
        topdir = cd.getVar('TOPDIR')
        corebase = cd.getVar('COREBASE')
        bitbakedir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(bb.__file__))))
        scratch = os.path.commonpath([topdir, corebase, bitbakedir])
        # longest first, so that ${SCRATCH} only catches what is left
        subst = sorted([(topdir, '${TOPDIR}'), (corebase, '${COREBASE}'),
                        (bitbakedir, '${BITBAKEDIR}'), (scratch, '${SCRATCH}')],
                       key=lambda x: -len(x[0]))

        def rel(path):
            # file names: relative to the oe-core root
            if path.startswith(corebase + '/'):
                return path[len(corebase) + 1:]
            return clean(path)

        def relfn(fn):
            # virtual:<cls>:/abs/x.bb -> virtual:<cls>:meta/.../x.bb
            realfn, cls, mc = bb.cache.virtualfn2realfn(fn)
            assert not mc, fn
            return fn.replace(realfn, rel(realfn)), rel(realfn), cls or ''

        def clean(v):
            if isinstance(v, str):
                for a, b in subst:
                    v = v.replace(a, b)
                return v
            if isinstance(v, list):
                return [clean(x) for x in v]
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            return v

        records = []
        skipped = tinfoil.get_skipped_recipes()
        for fn, sk in skipped.items():
            file, realfile, variant = relfn(fn)
            records.append(dict(file=file, realfile=realfile, variant=variant, skipped=True,
                                PN=sk.pn, skipreason=clean(sk.skipreason),
                                PROVIDES=clean(list(sk.provides) if sk.provides is not None else None)))

        fns = list(tinfoil.all_recipe_files(variants=True))
        print('%d parsed targets, %d skipped; initial parse %.0f s' % (len(fns), len(skipped), time.time() - t0),
              file=sys.stderr)
        for i, fn in enumerate(fns):
            file, realfile, variant = relfn(fn)
            d = tinfoil.parse_recipe_file(fn)
            r = dict(file=file, realfile=realfile, variant=variant, skipped=False)
            for v in VARS:
                r[v] = clean(d.getVar(v))
            r['RDEPENDS:${PN}'] = clean(d.getVar('RDEPENDS:' + d.getVar('PN')))
            r['S_unexpanded'] = clean(d.getVar('S', False))
            inh = d.getVar('__inherit_cache', False) or []
            r['inherit_files'] = [rel(f) for f in inh]
            r['inherits'] = [os.path.basename(f)[:-len('.bbclass')] if f.endswith('.bbclass') else os.path.basename(f)
                             for f in inh]
            td = d.getVar('_task_deps', False) or {}
            tasks = []
            for t in td.get('tasks', []):
                e = {'task': t, 'deps': list(td.get('parents', {}).get(t, []))}
                for fl in TASKFLAGS:
                    if t in td.get(fl, {}):
                        e[fl] = td[fl][t]
                tasks.append(clean(e))
            r['tasks'] = tasks
            r['__BBTASKS'] = clean(list(d.getVar('__BBTASKS', False) or []))
            records.append(r)
            tinfoil.run_command('dataStoreConnectorRelease', d.dsindex)
            if i % 100 == 0:
                print('%d/%d %.0f s' % (i, len(fns), time.time() - t0), file=sys.stderr)

    records.sort(key=lambda r: (r['realfile'], r['file']))
    with open(out, 'w') as f:
        for r in records:
            line = json.dumps(r)
            if scratch in line:
                raise SystemExit('scratch path left in ' + line[:200])
            f.write(line + '\n')
    print('wrote %d records (%d skipped) in %.0f s' % (len(records), len(skipped), time.time() - t0),
          file=sys.stderr)


if __name__ == '__main__':
    main(sys.argv[1])
