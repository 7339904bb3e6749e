# Two include files include each other.
LICENSE = "MIT"
include fail-include-cycle-a.inc
