# A recipe that defines do_compile itself keeps it: EXPORT_FUNCTIONS only
# fills in functions the recipe does not define.
LICENSE = "MIT"

do_compile() {
	echo "the recipe's own do_compile"
}

inherit itest_export
