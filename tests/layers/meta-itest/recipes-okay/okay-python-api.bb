# The datastore API as metadata Python uses it.
LICENSE = "MIT"

RENAME_ME = "renamed value"
RENAME_ME:append = " with its append"
DELETE_ME = "deleted"
FLAGS_VAR = "v"
FLAGS_VAR[a] = "1"
FLAGS_VAR[b] = "${PN}"
EXPANDED_LATER = "${PN}"
LIST_VAR = "x y z"

python () {
    d.renameVar('RENAME_ME', 'RENAMED')
    d.delVar('DELETE_ME')
    d.setVarFlag('FLAGS_VAR', 'c', 'from python')
    d.appendVarFlag('FLAGS_VAR', 'a', '2')
    d.prependVarFlag('FLAGS_VAR', 'a', '0')
    d.delVarFlag('FLAGS_VAR', 'b')
    flags = d.getVarFlags('FLAGS_VAR') or {}
    d.setVar('FLAG_NAMES', ' '.join(sorted(k for k in flags)))
    d.setVar('RAW', d.getVar('EXPANDED_LATER', False))
    d.setVar('EXPANDED', d.expand('${EXPANDED_LATER}-expanded'))
    d.appendVar('LIST_VAR', ' appended')
    d.prependVar('LIST_VAR', 'prepended ')
    d.setVar('SET_WITH_APPEND:append', ' via setVar')
    d.setVar('SET_WITH_APPEND', 'base')
    d.setVar('CONTAINS', bb.utils.contains('LIST_VAR', 'x y', 'both', 'not both', d))
    d.setVar('CONTAINS_ANY', bb.utils.contains_any('LIST_VAR', 'q y', 'one', 'none', d))
    d.setVar('INHERITS', str(bb.data.inherits_class('base', d)))
    d.setVar('TYPE_INT', 3)
    d.setVar('TYPE_LIST', ['a', 'b'])
    d.setVar('KEYS_HAVE_PN', str('PN' in d.keys()))
    d.setVar('VERCMP', str(bb.utils.vercmp_string('1.10', '1.9')))
    d.setVar('EXPLODED', ' '.join(bb.utils.explode_deps('a (>= 1) b c (= 2)')))
}
