# require of a file that does not exist fails this recipe only.
LICENSE = "MIT"
require fail-does-not-exist.inc
