# base.bbclass: inherited by every recipe (BitBake and rstore do so implicitly).
#
# The tasks every recipe goes through, and where they are defined:
#
#   fetch -> unpack -> patch -> configure -> compile -> install   (here)
#   prepare_recipe_sysroot (before configure), populate_sysroot   (staging.bbclass)
#   populate_lic (after patch)                                     (license.bbclass)
#   package -> package_write_deb -> package_rdepends               (package*.bbclass)
#   build: the default target, after all of the above
#
# Tasks and functions flagged [rstore-builtin] are carried out by rstore's
# own implementation (fetch, unpack, patch, prepare-sysroot, package,
# package-deb, rootfs, populate-lic, publish); the Python bodies here do the
# same job under BitBake.

inherit staging
inherit license
inherit ${PACKAGE_CLASSES}

##################################################################
# Helpers used from bitbake.conf and by the classes.
##################################################################

def rstore_base_name(pn, d):
    """PN without the variant suffix (-native) or prefix (nativesdk-)."""
    for suffix in (d.getVar('SPECIAL_PKGSUFFIX') or '').split():
        if pn.endswith(suffix):
            return pn[:-len(suffix)]
    for prefix in (d.getVar('SPECIAL_PKGPREFIX') or '').split():
        if pn.startswith(prefix):
            return pn[len(prefix):]
    return pn

def rstore_filespath(d):
    """The directories file:// entries of SRC_URI are looked up in."""
    import os
    bases = []
    for extra in (d.getVar('FILESEXTRAPATHS') or '').split(':'):
        extra = extra.strip()
        if extra and extra != '__default' and extra not in bases:
            bases.append(extra)
    recipe_dir = d.getVar('FILE_DIRNAME')
    for name in (d.getVar('BP'), d.getVar('BPN'), 'files'):
        bases.append(os.path.join(recipe_dir, name))
    # The last override is the most specific one, so it is searched first.
    overrides = [o for o in (d.getVar('FILESOVERRIDES') or '').split(':') if o]
    overrides.reverse()
    paths = []
    for base in bases:
        paths.extend(os.path.join(base, o) for o in overrides)
        paths.append(base)
    return ':'.join(paths)

def rstore_source_mirrors(d):
    """PREMIRRORS entries that try SOURCE_MIRROR_URL before upstream."""
    url = (d.getVar('SOURCE_MIRROR_URL') or '').rstrip('/')
    if not url:
        return ''
    return ' '.join('%s://.*/.* %s/' % (scheme, url) for scheme in ('https?', 'ftp'))

# Logging from shell tasks.
bbnote() {
	echo "NOTE: $*"
}

bbwarn() {
	echo "WARNING: $*" >&2
}

bbfatal() {
	echo "ERROR: $*" >&2
	exit 1
}

MAKE ?= "make"

# Run make with the recipe's parallelism and EXTRA_OEMAKE arguments.
oe_runmake() {
	bbnote ${MAKE} ${PARALLEL_MAKE} ${EXTRA_OEMAKE} "$@"
	${MAKE} ${PARALLEL_MAKE} ${EXTRA_OEMAKE} "$@" || bbfatal "${MAKE} $* failed"
}

##################################################################
# Host tools (BitBake only: rstore's sandbox exposes HOSTTOOLS itself).
# Link every tool named in HOSTTOOLS from the PATH bitbake was started
# with into HOSTTOOLS_DIR, the only host directory on a task's PATH.
##################################################################

addhandler base_hosttools_handler
base_hosttools_handler[eventmask] = "bb.event.ConfigParsed"
python base_hosttools_handler() {
    import os
    origenv = d.getVar('BB_ORIGENV', False)
    search = (origenv.getVar('PATH') if origenv else None) or os.environ.get('PATH', '')
    hostdir = d.getVar('HOSTTOOLS_DIR')
    bb.utils.mkdirhier(hostdir)
    required = (d.getVar('HOSTTOOLS') or '').split()
    optional = (d.getVar('HOSTTOOLS_NONFATAL') or '').split()
    missing = []
    for tool in required + optional:
        link = os.path.join(hostdir, tool)
        found = bb.utils.which(search, tool, executable=True)
        if not found:
            if tool in required:
                missing.append(tool)
            continue
        # Link to the file itself, not through /etc/alternatives: a sandboxed
        # task sees /usr but not the host's /etc.
        target = os.path.realpath(found)
        if os.path.islink(link) and os.readlink(link) == target:
            continue
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(target, link)
    if missing:
        bb.fatal("These tools named in HOSTTOOLS were not found on PATH: %s" % ' '.join(sorted(missing)))
}

##################################################################
# Fetch: download every remote SRC_URI entry into DL_DIR and check it
# against SRC_URI[sha256sum]; local file:// entries are only located.
##################################################################

addtask fetch
do_fetch[dirs] = "${DL_DIR}"
do_fetch[network] = "1"
do_fetch[file-checksums] = "${@bb.fetch.get_checksum_file_list(d)}"
do_fetch[rstore-builtin] = "fetch"
python base_do_fetch() {
    src_uri = (d.getVar('SRC_URI') or '').split()
    if not src_uri:
        return
    try:
        bb.fetch2.Fetch(src_uri, d).download()
    except bb.fetch2.BBFetchException as e:
        bb.fatal("Fetching the sources of %s failed: %s" % (d.getVar('PN'), e))
}

##################################################################
# Unpack: archives are extracted into UNPACKDIR, other files copied there.
##################################################################

addtask unpack after do_fetch
do_unpack[dirs] = "${UNPACKDIR}"
do_unpack[cleandirs] = "${UNPACKDIR}"
do_unpack[rstore-builtin] = "unpack"
python base_do_unpack() {
    src_uri = (d.getVar('SRC_URI') or '').split()
    if not src_uri:
        return
    try:
        bb.fetch2.Fetch(src_uri, d).unpack(d.getVar('UNPACKDIR'))
    except bb.fetch2.BBFetchException as e:
        bb.fatal("Unpacking the sources of %s failed: %s" % (d.getVar('PN'), e))
}

##################################################################
# Patch: apply the file:// entries ending in .patch or .diff (or carrying
# apply=yes), in SRC_URI order, with "patch -p<striplevel>" inside
# ${S}/<patchdir>. apply=no keeps a patch file out.
##################################################################

def rstore_is_patch(ud):
    apply = ud.parm.get('apply')
    if apply is not None:
        return apply.lower() in ('1', 'yes', 'true')
    return ud.path.endswith(('.patch', '.diff'))

addtask patch after do_unpack
do_patch[dirs] = "${S}"
do_patch[rstore-builtin] = "patch"
python base_do_patch() {
    import os
    import subprocess
    src_uri = (d.getVar('SRC_URI') or '').split()
    if not src_uri:
        return
    fetcher = bb.fetch2.Fetch(src_uri, d)
    unpackdir = d.getVar('UNPACKDIR')
    env = {'PATH': d.getVar('PATH'), 'LC_ALL': 'C'}
    for url in fetcher.urls:
        ud = fetcher.ud[url]
        if ud.type != 'file' or not rstore_is_patch(ud):
            continue
        patch = os.path.join(unpackdir, ud.parm.get('subdir', ''), ud.path)
        where = os.path.join(d.getVar('S'), ud.parm.get('patchdir', ''))
        bb.note("Applying %s" % os.path.basename(patch))
        cmd = ['patch', '--batch', '--no-backup-if-mismatch',
               '-p%s' % ud.parm.get('striplevel', '1'), '-d', where, '-i', patch]
        result = subprocess.run(cmd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            bb.fatal("Applying %s to %s failed:\n%s" % (os.path.basename(patch), where, result.stdout))
}

##################################################################
# Configure, compile, install: shell tasks, replaced by the build-system
# classes (autotools, make) or by the recipe itself.
##################################################################

addtask configure after do_patch
do_configure[dirs] = "${B}"
base_do_configure() {
	:
}

addtask compile after do_configure
do_compile[dirs] = "${B}"
base_do_compile() {
	if [ -e Makefile ] || [ -e makefile ] || [ -e GNUmakefile ]; then
		oe_runmake
	fi
}

addtask install after do_compile
do_install[dirs] = "${B}"
do_install[cleandirs] = "${D}"
base_do_install() {
	:
}

# The default target: everything a recipe produces.
addtask build after do_populate_sysroot
do_build[noexec] = "1"

EXPORT_FUNCTIONS do_fetch do_unpack do_patch do_configure do_compile do_install

##################################################################
# Publishing task outputs into the shared deploy and staging areas
# (BitBake only: BitBake keeps one shared tree where rstore keeps one
# store entry per task). A task flagged with
#   [sstate-inputdirs]  = "<dir in WORKDIR>"
#   [sstate-outputdirs] = "<shared dir>"
# runs this after its body: it copies the input dir over the output dir,
# first removing what this recipe published there last time.
##################################################################

def rstore_copy_tree(src, dest):
    """Copy the tree at src over dest, keeping symlinks and modes.

    Files already present in dest are replaced. Returns the paths written,
    sorted, so callers can record what they put where.
    """
    import os
    import shutil
    written = []
    for root, dirs, files in os.walk(src):
        dirs.sort()
        target_root = os.path.join(dest, os.path.relpath(root, src))
        bb.utils.mkdirhier(target_root)
        # os.walk lists symlinks to directories with the directories.
        links = [name for name in dirs if os.path.islink(os.path.join(root, name))]
        for name in sorted(files + links):
            source = os.path.join(root, name)
            target = os.path.join(target_root, name)
            if os.path.lexists(target) and not (os.path.isdir(target) and not os.path.islink(target)):
                os.unlink(target)
            if os.path.islink(source):
                os.symlink(os.readlink(source), target)
            else:
                shutil.copy2(source, target)
            written.append(target)
    return sorted(written)

rstore_publish_outputs[rstore-builtin] = "publish"
python rstore_publish_outputs() {
    import os
    task = 'do_' + d.getVar('BB_CURRENTTASK')
    src = d.getVarFlag(task, 'sstate-inputdirs')
    dest = d.getVarFlag(task, 'sstate-outputdirs')
    if not src or not dest:
        bb.fatal("%s runs rstore_publish_outputs but lacks [sstate-inputdirs] or [sstate-outputdirs]" % task)
    manifest = os.path.join(d.getVar('WORKDIR'), 'published.%s' % task)
    if os.path.exists(manifest):
        with open(manifest) as f:
            for line in f.read().splitlines():
                if os.path.lexists(line) and not (os.path.isdir(line) and not os.path.islink(line)):
                    os.unlink(line)
    bb.utils.mkdirhier(dest)
    published = rstore_copy_tree(src, dest) if os.path.isdir(src) else []
    with open(manifest, 'w') as f:
        f.write(''.join(p + '\n' for p in published))
}
