# EXPORT_FUNCTIONS: do_compile and do_configure call this class's versions unless
# the recipe defines its own.

itest_export_do_compile() {
	echo "compiled by the itest_export class"
}

python itest_export_do_configure() {
    bb.note("configured by the itest_export class")
}

addtask configure after do_fetch before do_compile
EXPORT_FUNCTIONS do_compile do_configure

EXPORT_CLASS = "itest_export"
