# Appended to every zlib: the target variant gets one more build dependency.
DEPENDS:append:class-target = " extra-data"
