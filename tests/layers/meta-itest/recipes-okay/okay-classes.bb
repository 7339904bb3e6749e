# A class inheriting a class, a class inherited twice (the second time does
# nothing), and an inherit from an include file.
LICENSE = "MIT"
inherit itest_outer
inherit itest_inner
require okay-classes.inc
