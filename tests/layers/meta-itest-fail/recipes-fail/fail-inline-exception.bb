# An exception in inline Python, expanded right away by :=.
LICENSE = "MIT"
RATIO := "${@1 // 0}"
