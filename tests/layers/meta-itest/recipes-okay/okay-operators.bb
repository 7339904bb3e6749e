# Every assignment operator, variable flags and their operators, export,
# quoting, line continuations and comments.
SUMMARY = "assignment operators"
LICENSE = "MIT"

SET = "value"
SET_TWICE = "first"
SET_TWICE = "second"

DEFAULT ?= "default"
DEFAULT ?= "a second default is ignored"
SET_THEN_DEFAULT = "set"
SET_THEN_DEFAULT ?= "ignored"

WEAK ??= "weak"
WEAK_TWICE ??= "first weak"
WEAK_TWICE ??= "the last weak default wins"
WEAK_THEN_SET ??= "weak"
WEAK_THEN_SET = "set"
WEAK_THEN_DEFAULT ??= "weak"
WEAK_THEN_DEFAULT ?= "a default beats a weak default"
WEAK_THEN_APPEND ??= "weak"
WEAK_THEN_APPEND += "appended"
WEAK_THEN_APPEND_OP ??= "weak"
WEAK_THEN_APPEND_OP:append = " :append"
WEAK_FROM_CONF_REPLACED = "recipe"

IMMEDIATE_SOURCE = "early"
IMMEDIATE := "${IMMEDIATE_SOURCE}"
LAZY = "${IMMEDIATE_SOURCE}"
IMMEDIATE_SOURCE = "late"
IMMEDIATE_OF_UNSET := "${NOT_SET_ANYWHERE}"
IMMEDIATE_INLINE := "${@'computed ' + d.getVar('IMMEDIATE_SOURCE')}"

APPEND = "a"
APPEND += "b"
PREPEND = "b"
PREPEND =+ "a"
APPEND_DOT = "a"
APPEND_DOT .= "b"
PREPEND_DOT = "b"
PREPEND_DOT =. "a"
APPEND_TO_UNSET += "x"
PREPEND_TO_UNSET =+ "x"
APPEND_DOT_TO_UNSET .= "x"

# The :append and :prepend operations apply when the variable is read, after
# every += and =+ of the recipe, whatever the order of the lines.
MIXED = "2"
MIXED:append = " 5"
MIXED += "3"
MIXED:prepend = "0 "
MIXED =+ "1"
MIXED .= " 4"
MIXED:append = " 6"

# Variable flags and their operators.
FLAGGED = "value"
FLAGGED[doc] = "the doc"
FLAGGED[doc] += "more"
FLAGGED[doc] .= "!"
FLAGGED[list] = "b"
FLAGGED[list] =+ "a"
FLAGGED[list] =. "0"
FLAGGED[default] ?= "first"
FLAGGED[default] ?= "second"
FLAGGED[weak] ??= "weak flag"
FLAGGED[weak_then_set] ??= "weak flag"
FLAGGED[weak_then_set] = "set flag"
FLAGGED[immediate] := "${SET}"
FLAGGED[lazy] = "${SET}"
FLAGGED[dotted.name-1] = "dotted"
FLAGGED[at@sign/slash] = "at and slash"
FLAG_ONLY[doc] = "a variable with only a flag"

export EXPORTED = "exported"
export EXPORTED_LATER
EXPORTED_LATER = "set after export"

DOUBLE_QUOTED = "it's"
SINGLE_QUOTED = 'say "hi"'
ESCAPED_QUOTES = "a \"quoted\" word"
EMPTY = ""
SPACES = "  padded  "
HASH = "not # a comment"
DOLLAR = "$HOME and ${UNDEFINED_VARIABLE}"
UNTERMINATED_REFERENCE = "${NOT_CLOSED"
UNTERMINATED_INLINE = "${@'not closed'"
BRACES_IN_INLINE = "${@'{' + '}'}"
BACKSLASH = "a\tb\\c"

CONTINUED = "one \
    two \
  three"
CONTINUED_FLAG[doc] = "flag \
    continued"
# A comment continued with a backslash \
# goes on with another comment line.
AFTER_COMMENT = "after the comment"
