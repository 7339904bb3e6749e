# include, require and include_all: next to the recipe, in a subdirectory,
# through BBPATH, with a variable in the name, and a missing optional file.
LICENSE = "MIT"
INCLUDE_ORDER = "recipe"
INC_NAME = "okay-includes-named"

include okay-includes.inc
require inc/okay-includes-required.inc
include ${INC_NAME}.inc
require include/itest-bbpath.inc
include okay-includes-missing.inc
include_all conf/itest-all.conf
INCLUDE_ORDER += "recipe-end"
RECIPE_FILE := "${FILE}"
