SUMMARY = "Builds with every library of world, found when the graph is made"
EXCLUDE_FROM_WORLD = "1"

python calculate_extra_depends() {
    for p in sorted(world_target):
        if p.startswith('lib') and p != self_pn and p in pkg_pn:
            deps.append(p)
}
