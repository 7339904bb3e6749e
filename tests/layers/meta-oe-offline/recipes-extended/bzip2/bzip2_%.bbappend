# bzip2-tests (git on sourceware) is not reachable here and serves only the ptest: dropped, with the license files it would add; the bzip2 1.0.8 tarball itself is served unchanged.
SRC_URI:remove = "git://sourceware.org/git/bzip2-tests.git;name=bzip2-tests;branch=master;protocol=https;destsuffix=bzip2-tests/"
LIC_FILES_CHKSUM = "file://LICENSE;beginline=4;endline=37;md5=600af43c50f1fcb82e32f19b32df4664"
