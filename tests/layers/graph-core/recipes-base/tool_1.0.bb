SUMMARY = "A recipe with its own tasks: added before and after others, one removed"
DEPENDS = "zlib hostperl-native hosttool-gzip-native"
BBCLASSEXTEND = "native"

# Unpacking needs unzip from the build machine.
do_unpack[depends] = "unzip-native:do_populate_sysroot"

# Generated sources: after compile, before install.
do_generate() {
	:
}
addtask generate after do_compile before do_install

# Nothing to patch.
deltask do_patch

# Published files, picked up by do_build[recrdeptask] of whatever builds this.
do_deploy() {
	:
}
addtask deploy after do_install before do_build
do_deploy[nostamp] = "1"

# With do_patch gone, configure right after unpack.
addtask configure after do_unpack
