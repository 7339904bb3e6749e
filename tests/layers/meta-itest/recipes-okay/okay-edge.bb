# Corner cases of the grammar and of expansion.
LICENSE = "MIT"

TABS	=	"tabs around the operator"
UNICODE = "héllo ✓"
EMPTY_VAR = ""
include ${EMPTY_VAR}
include okay-edge-a.inc okay-edge-b.inc
export EXPORTED_WEAK ??= "weak and exported"
INLINE_NONE = "${@d.getVar('NOT_SET_ANYWHERE')}"
INLINE_FALSE = "${@False}"
INLINE_NESTED_QUOTES = "${@"double" + 'single'}"
INLINE_INNER_REFERENCE = "${@'${EMPTY_VAR}' == ''}"
INLINE_ADJACENT = "${@'a'}${@'b'}${EMPTY_VAR}${@'c'}"
VAR_IN_INLINE_STRING = "${@'$' + '{UNICODE}'}"
DOLLAR_BRACE_SPACE = "${ NOT A REFERENCE }"
REF_TO_FLAG_ONLY = "${FLAG_HOLDER}"
FLAG_HOLDER[flag] = "only a flag"

# Appending to variables that do not exist yet.
APPEND_FIRST:append = " appended"
PREPEND_FIRST:prepend = "prepended "
REMOVE_FIRST:remove = "x"
LATE_BASE:append = " appended"
LATE_BASE = "base"

# := of a value with a pending :append sees the append.
WITH_APPEND = "a"
WITH_APPEND:append = " b"
IMMEDIATE_WITH_APPEND := "${WITH_APPEND}"
# += after := adds to the expanded text.
IMMEDIATE_THEN_APPEND := "${EMPTY_VAR}x"
IMMEDIATE_THEN_APPEND += "${UNICODE}"

# :remove splits on white space and keeps the rest as it was.
REMOVE_SPACING = "  a	b  c  "
REMOVE_SPACING:remove = "b"
REMOVE_SEVERAL = "a b c d"
REMOVE_SEVERAL:remove = "a c"
REMOVE_WEAK ??= "w1 w2"
REMOVE_WEAK:remove = "w1"
REMOVE_ALL = "a a"
REMOVE_ALL:remove = "a"

# Weak defaults with overrides.
WEAK_OV ??= "weak"
WEAK_OV:itestos ??= "weak override"
WEAK_OV_SET = "set"
WEAK_OV_SET:itestos ??= "weak override of a set variable"

# OVERRIDES extended by the recipe.
OVERRIDES .= ":itestcustom"
CUSTOM = "plain"
CUSTOM:itestcustom = "custom override"
MACHINEOVERRIDES:append = ":itestextra"
EXTRA_MACHINE = "plain"
EXTRA_MACHINE:itestextra = "machine override appended"

# Variable names with references are expanded when the recipe is finalised.
NAME_${PN} = "named after PN"
KEY_SUFFIX = "suffix"
KEY_${KEY_SUFFIX}:append = " appended"
KEY_suffix = "set directly"
