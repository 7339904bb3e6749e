SUMMARY = "Builds with broken-leaf"
DEPENDS = "broken-leaf"
