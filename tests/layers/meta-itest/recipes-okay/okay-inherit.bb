# inherit (with a variable in the list, from classes-recipe/ and classes/),
# inherit_defer, INHERIT (itest_global, from local.conf) and EXPORT_FUNCTIONS.
LICENSE = "MIT"
ITEST_CLASSES = "itest_export itest_plain"
inherit ${ITEST_CLASSES}
inherit_defer itest_deferred
LATE_VALUE = "set after inherit_defer"
