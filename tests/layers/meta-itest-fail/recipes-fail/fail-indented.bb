# Statements start at the first column.
LICENSE = "MIT"
  FOO = "indented"
