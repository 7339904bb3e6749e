# staging.bbclass: per-recipe sysroots.
#
# do_populate_sysroot copies the parts of ${D} that other recipes build
# against (SYSROOT_DIRS: headers, libraries, pkg-config files; for -native
# recipes also their programs) into ${SYSROOT_DESTDIR}.
#
# do_prepare_recipe_sysroot gathers what every recipe in DEPENDS staged,
# recursively, into this recipe's own sysroots: ${RECIPE_SYSROOT} for target
# recipes and ${RECIPE_SYSROOT_NATIVE} for -native ones. Nothing else is
# visible to a build: a dependency that is not in DEPENDS is not found.

SYSROOT_DIRS = "${includedir} ${libdir} ${base_libdir} ${datadir}/pkgconfig ${datadir}/aclocal"
SYSROOT_DIRS:append:class-native = " ${bindir} ${sbindir} ${libexecdir} ${datadir} ${sysconfdir}"

# The directory of SYSROOT_DESTDIR that becomes a sysroot's root: native
# recipes are installed at their path inside the native sysroot
# (see native.bbclass), target recipes at their path on the device.
SYSROOT_PREFIX ?= ""

addtask populate_sysroot after do_install
do_populate_sysroot[dirs] = "${WORKDIR}"
do_populate_sysroot[cleandirs] = "${SYSROOT_DESTDIR}"
do_populate_sysroot[sstate-inputdirs] = "${SYSROOT_DESTDIR}${SYSROOT_PREFIX}"
do_populate_sysroot[sstate-outputdirs] = "${COMPONENTS_DIR}/${PN}"
do_populate_sysroot[postfuncs] += "rstore_publish_outputs"
do_populate_sysroot() {
	for dir in ${SYSROOT_DIRS}; do
		if [ -d "${D}$dir" ]; then
			mkdir -p "${SYSROOT_DESTDIR}$dir"
			cp -a "${D}$dir/." "${SYSROOT_DESTDIR}$dir/"
		fi
	done
}

addtask prepare_recipe_sysroot after do_fetch before do_configure
do_prepare_recipe_sysroot[deptask] = "do_populate_sysroot"
do_prepare_recipe_sysroot[cleandirs] = "${RECIPE_SYSROOT} ${RECIPE_SYSROOT_NATIVE}"
do_prepare_recipe_sysroot[rstore-builtin] = "prepare-sysroot"
python do_prepare_recipe_sysroot() {
    import os
    taskdepdata = d.getVar('BB_TASKDEPDATA', False)
    pn = d.getVar('PN')
    # Walk the task graph below this task; every do_populate_sysroot on the
    # way belongs to a direct or indirect build dependency.
    pending = [tid for tid, task in taskdepdata.items()
               if task.pn == pn and task.taskname == 'do_prepare_recipe_sysroot']
    seen = set()
    providers = set()
    while pending:
        tid = pending.pop()
        if tid in seen:
            continue
        seen.add(tid)
        task = taskdepdata[tid]
        if task.taskname == 'do_populate_sysroot' and task.pn != pn:
            providers.add(task.pn)
        pending.extend(task.deps)
    components = d.getVar('COMPONENTS_DIR')
    for dep in sorted(providers):
        src = os.path.join(components, dep)
        if not os.path.isdir(src):
            bb.fatal("%s depends on %s, whose sysroot is missing from %s" % (pn, dep, components))
        native = dep.endswith('-native')
        dest = d.getVar('RECIPE_SYSROOT_NATIVE' if native else 'RECIPE_SYSROOT')
        rstore_copy_tree(src, dest)
        bb.note("Staged %s into %s" % (dep, 'the native sysroot' if native else 'the sysroot'))
}
