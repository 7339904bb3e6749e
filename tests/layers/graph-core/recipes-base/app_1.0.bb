SUMMARY = "An application: build-time, run-time and recommended dependencies"
DEPENDS = "virtual/libfoo zlib tool-native libbar libbaz"
RDEPENDS:${PN} = "libbar runtime-helper virtual-shell"
RRECOMMENDS:${PN} = "app-plugin-extra"
