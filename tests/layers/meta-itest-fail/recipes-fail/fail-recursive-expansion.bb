# Two variables that reference each other, read when the recipe is finalised.
LICENSE = "MIT"
LOOP_A = "${LOOP_B}"
LOOP_B = "${LOOP_A}"
DEPENDS = "${LOOP_A}"
