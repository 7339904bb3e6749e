SUMMARY = "Exports one hashed and one unhashed variable to its shell tasks"
DESCRIPTION = "What a task runs against what its hash covers: do_compile sees both \
exported variables, but [vardepsexclude] keeps one of them out of its hash."
LICENSE = "CLOSED"

B = "${WORKDIR}/build"

EXPORTED_HASHED ?= "hashed one"
export EXPORTED_HASHED
EXPORTED_UNHASHED ?= "unhashed one"
export EXPORTED_UNHASHED

do_compile[vardepsexclude] += "EXPORTED_UNHASHED"
do_compile() {
	echo "$EXPORTED_HASHED" > hashed.txt
	echo "$EXPORTED_UNHASHED" > unhashed.txt
}
