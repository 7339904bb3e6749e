#!/usr/bin/env python3
"""config_vars.py OUT.json

Writes selected configuration values as BitBake computed them (the
configuration datastore of tinfoil.prepare(config_only=True), i.e. base
configuration + bitbake.conf + INHERITed classes), with the same keys as
../oe-scarthgap/config-vars.json.  `null` = unset; runs of whitespace in a
value are collapsed to one blank and leading/trailing blanks dropped.  Scratch locations are
replaced by ${TOPDIR}, ${COREBASE}, ${BITBAKEDIR}, ${SCRATCH} (longest first).
Run in the build dir of an initialised environment, as the build user.
Our own code; it contains no BitBake or oe-core code.
"""
import json
import os
import sys

import bb
import bb.tinfoil

KEYS = ['DISTRO', 'DISTRO_VERSION', 'DISTRO_FEATURES', 'MACHINE', 'TUNE_FEATURES', 'TUNE_PKGARCH',
        'TCLIBC', 'TCMODE', 'TMPDIR', 'PACKAGE_CLASSES', 'INIT_MANAGER', 'VIRTUAL-RUNTIME_init_manager',
        'IMAGE_FSTYPES', 'LAYERSERIES_CORENAMES', 'LAYERSERIES_COMPAT_core', 'BB_SIGNATURE_HANDLER',
        'BB_HASHSERVE', 'INHERIT', 'PREFERRED_PROVIDER_virtual/kernel', 'NATIVELSBSTRING',
        'SANITY_TESTED_DISTROS', 'BB_NUMBER_THREADS', 'BB_NUMBER_PARSE_THREADS', 'BB_NO_NETWORK',
        'BBFILES', 'BBMASK']

with bb.tinfoil.Tinfoil() as tinfoil:
    tinfoil.prepare(config_only=True, quiet=2)
    d = tinfoil.config_data
    topdir, corebase = d.getVar('TOPDIR'), d.getVar('COREBASE')
    bitbakedir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(bb.__file__))))
    scratch = os.path.commonpath([topdir, corebase, bitbakedir])
    subst = sorted([(topdir, '${TOPDIR}'), (corebase, '${COREBASE}'), (bitbakedir, '${BITBAKEDIR}'),
                    (scratch, '${SCRATCH}')], key=lambda x: -len(x[0]))

    def clean(v):
        if v is None:
            return None
        v = ' '.join(v.split())     # whitespace normalised (as in the scarthgap reference)
        for a, b in subst:
            v = v.replace(a, b)
        return v

    out = {'bb.__version__': bb.__version__}
    for k in KEYS:
        out[k] = clean(d.getVar(k))
with open(sys.argv[1], 'w') as f:
    json.dump(out, f, indent=1)
    f.write('\n')
print(json.dumps(out, indent=1))
