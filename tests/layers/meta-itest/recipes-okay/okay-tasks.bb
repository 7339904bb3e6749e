# addtask (after, before, several at once), deltask, task flags, shell and
# Python functions (named, anonymous, fakeroot), def functions and inline
# Python.
LICENSE = "MIT"

addtask itest after do_compile before do_install
addtask itest_second after do_itest do_fetch
addtask do_itest_third before do_build
addtask itest_gone after do_fetch before do_build
addtask itest_multi_a itest_multi_b after do_fetch
DEL_TASKS = "do_itest_gone"
deltask ${DEL_TASKS}
deltask itest_multi_b

do_itest[depends] = "okay-operators:do_fetch"
do_itest[dirs] = "${B}"
do_itest[nostamp] = "1"
do_itest_second[deptask] = "do_install"
do_itest_third[noexec] = "1"

python do_itest() {
    bb.note("running do_itest of", d.getVar('PN'))
}

do_itest_second() {
	echo "second: ${PN}"
	# a shell comment with a brace {
}

fakeroot do_itest_third() {
	chown root:root ${D}
}

fakeroot python do_itest_multi_a() {
    pass
}

python () {
    d.setVar('ANON', 'set by an anonymous function')
    d.appendVar('ANON_APPENDED', ' and by an anonymous function')
    d.setVarFlag('do_itest', 'anon-flag', 'from anonymous python')
}

python __anonymous () {
    d.setVar('ANON_NAMED', 'set by python __anonymous')
}

ANON_APPENDED = "set in the recipe"

def okay_tasks_def(d):
    return "def:" + d.getVar('PN')

def okay_tasks_multiline(d, suffix="!"):
    # a comment inside a def
    value = d.getVar('PN')

    return value + suffix

DEF_CALL = "${@okay_tasks_def(d)}"
DEF_MULTILINE = "${@okay_tasks_multiline(d)}"
INLINE = "${@'in' + 'line'}"
INLINE_WITH_VAR = "${@'${PN}'.upper()}"
INLINE_DICT = "${@{'key': 'from a dict'}['key']}"
INLINE_BASE_HELPER = "${@itest_base_helper(d)}"
INLINE_PYLIB = "${@itestlib.greeting(d)}"
INLINE_PYLIB_BBIMPORTS = "${@itestlib.helpers.shout('quiet')}"
INLINE_OS = "${@os.path.basename('/a/b/c')}"
INLINE_BB_UTILS = "${@bb.utils.contains('DISTRO_FEATURES', 'd1', 'yes', 'no', d)}"
INLINE_TWO = "${@1 + 1} and ${@2 + 2}"
