# The tasks of every recipe, ordered as in openembedded-core:
#   fetch -> unpack -> patch -> configure -> compile -> install
#   prepare_recipe_sysroot (the DEPENDS' populate_sysroot) before configure
#   install -> populate_sysroot, install -> package -> packagedata -> package_write
#   build after all of them.

do_fetch() {
	:
}
addtask fetch

do_unpack() {
	:
}
addtask unpack after do_fetch

do_patch() {
	:
}
addtask patch after do_unpack

do_prepare_recipe_sysroot() {
	:
}
addtask prepare_recipe_sysroot after do_fetch before do_configure
do_prepare_recipe_sysroot[deptask] = "do_populate_sysroot"

do_configure() {
	:
}
addtask configure after do_patch

do_compile() {
	:
}
addtask compile after do_configure

do_install() {
	:
}
addtask install after do_compile

do_populate_sysroot() {
	:
}
addtask populate_sysroot after do_install

do_package() {
	:
}
addtask package after do_install
do_package[deptask] = "do_packagedata"

do_packagedata() {
	:
}
addtask packagedata after do_package

do_package_write() {
	:
}
addtask package_write after do_packagedata
do_package_write[rdeptask] = "do_packagedata"

do_build() {
	:
}
addtask build after do_populate_sysroot do_package_write
do_build[noexec] = "1"
do_build[recrdeptask] = "do_deploy"

do_clean() {
	:
}
addtask clean
do_clean[nostamp] = "1"
