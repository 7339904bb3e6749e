# An exception in inline Python, expanded when the recipe is finalised.
LICENSE = "MIT"
DEPENDS = "${@no_such_function(d)}"
