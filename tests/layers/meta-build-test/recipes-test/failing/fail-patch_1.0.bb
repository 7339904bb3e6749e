SUMMARY = "A recipe whose patch does not apply"
LICENSE = "CLOSED"

SRC_URI = "file://greeting.txt \
           file://fix-greeting.patch \
           "

S = "${UNPACKDIR}"
