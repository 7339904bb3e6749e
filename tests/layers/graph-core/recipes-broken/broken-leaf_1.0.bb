SUMMARY = "Builds with something no recipe provides"
DEPENDS = "does-not-exist"
