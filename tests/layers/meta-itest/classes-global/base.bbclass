# base.bbclass of the test layer: inherited by every recipe.

BASE_SEEN = "base"

def itest_base_helper(d):
    """A def function, callable from inline Python anywhere."""
    return "helper:" + d.getVar('PN')

# A short chain of tasks every recipe has; classes and recipes replace the
# exported functions.
addtask fetch
do_fetch[network] = "1"
python base_do_fetch() {
    bb.note("fetching", d.getVar('SRC_URI'))
}

addtask compile after do_fetch
base_do_compile() {
	echo "compiling ${PN}"
}

addtask install after do_compile
do_install[dirs] = "${D}"
fakeroot base_do_install() {
	install -d ${D}
}

addtask build after do_install
do_build[noexec] = "1"

EXPORT_FUNCTIONS do_fetch do_compile do_install

# An event handler changing a variable of every recipe before it is finalised.
addhandler itest_base_handler
itest_base_handler[eventmask] = "bb.event.RecipePreFinalise"
python itest_base_handler() {
    e.data.setVar('BASE_HANDLER_SAW', 'PN=' + e.data.getVar('PN'))
}
