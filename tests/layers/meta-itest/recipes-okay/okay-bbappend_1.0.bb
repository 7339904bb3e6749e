# Changed by .bbappend files: an exact one in this layer, and two with a %
# wildcard in meta-itest-extra (a layer of higher priority, so they apply
# later).
LICENSE = "MIT"
APPEND_ORDER = "recipe"
FILESEXTRAPATHS ?= ""
