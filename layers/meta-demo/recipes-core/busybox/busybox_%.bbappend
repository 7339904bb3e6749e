# Applies to every busybox version meta-core has: switch on two more
# applets with a configuration fragment kept next to this file.
FILESEXTRAPATHS:prepend := "${THISDIR}/${PN}:"
SRC_URI += "file://demo.cfg"
