SUMMARY = "Builds with cycle-b, which builds with this"
DEPENDS = "cycle-b"
