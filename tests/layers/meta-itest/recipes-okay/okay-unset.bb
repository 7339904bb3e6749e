# unset VAR, unset VAR[flag] and export VAR.
LICENSE = "MIT"

UNSET_ME = "gone"
unset UNSET_ME
UNSET_WITH_APPEND = "a"
UNSET_WITH_APPEND:append = " b"
unset UNSET_WITH_APPEND
UNSET_THEN_SET = "first"
unset UNSET_THEN_SET
UNSET_THEN_SET = "set again"
unset NEVER_SET

FLAGS = "value"
FLAGS[keep] = "kept"
FLAGS[drop] = "dropped"
unset FLAGS[drop]
unset FLAGS[never]

export EXPORT_ONLY
export EXPORT_SET_BEFORE
EXPORT_SET_BEFORE = "value"
unset CONF_SET
