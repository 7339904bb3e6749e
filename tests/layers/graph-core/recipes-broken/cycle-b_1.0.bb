SUMMARY = "Builds with cycle-a, which builds with this"
DEPENDS = "cycle-a"
