SUMMARY = "An [rdepends] entry without its task"
do_compile[rdepends] = "zlib"
