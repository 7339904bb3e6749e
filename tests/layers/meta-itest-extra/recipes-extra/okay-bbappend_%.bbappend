APPEND_ORDER += "extra-any-version"
FILESEXTRAPATHS:prepend := "${THISDIR}/files:"
# THISDIR with := names the directory of this .bbappend.
APPEND_THISDIR := "${THISDIR}"
