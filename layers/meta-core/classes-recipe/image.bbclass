# image.bbclass: a root filesystem assembled from packages.
#
# IMAGE_INSTALL names the packages to install; their RDEPENDS are
# installed too, recursively. do_rootfs unpacks them into ${IMAGE_ROOTFS};
# do_image writes the tree as each of IMAGE_FSTYPES (tar, tar.gz, tar.bz2,
# tar.xz, tar.zst) with files owned by root, every time set to
# SOURCE_DATE_EPOCH, entries sorted and hard links stored as files (so the
# bytes depend on the files' contents only, not on when or how the tree was
# written to disk), plus a manifest of the installed packages, into
# ${DEPLOY_DIR_IMAGE}. Compressors run single-threaded, for the same reason.

IMAGE_INSTALL ?= ""
IMAGE_FSTYPES ?= "tar.zst"
IMAGE_BASENAME ?= "${PN}"
IMAGE_NAME ?= "${IMAGE_BASENAME}-${MACHINE}"
IMAGE_ROOTFS = "${WORKDIR}/rootfs"
IMGDEPLOYDIR = "${WORKDIR}/deploy-image"
# Directories every root filesystem gets, whatever the packages contain.
ROOTFS_DIRS ?= "dev proc sys run tmp root home mnt etc var var/log"

LICENSE ?= "MIT"
PACKAGE_ARCH = "${MACHINE_ARCH}"
PACKAGES = ""
# What BitBake follows to build every package the image installs.
RDEPENDS = "${IMAGE_INSTALL}"

# An image is made from packages only: it has no sources of its own.
deltask do_fetch do_unpack do_patch do_configure do_compile do_install
deltask do_populate_sysroot do_package do_package_write_deb do_package_rdepends do_populate_lic

# The compressors IMAGE_FSTYPES needs come from their -native recipes.
python () {
    tools = {'zst': 'zstd-native', 'xz': 'xz-native', 'bz2': 'bzip2-native'}
    for fstype in (d.getVar('IMAGE_FSTYPES') or '').split():
        compression = fstype.rsplit('.', 1)[-1]
        if compression in tools:
            d.appendVar('DEPENDS', ' ' + tools[compression])
}

addtask rootfs after do_prepare_recipe_sysroot
do_rootfs[dirs] = "${WORKDIR}"
do_rootfs[cleandirs] = "${IMAGE_ROOTFS}"
# Every package installed has its LIC_FILES_CHKSUM checked first.
do_rootfs[recrdeptask] = "do_package_write_deb do_package_rdepends do_populate_lic"
do_rootfs[rstore-builtin] = "rootfs"
python do_rootfs() {
    import glob
    import os
    import subprocess
    env = {'PATH': d.getVar('PATH'), 'LC_ALL': 'C'}

    def control(deb, *fields):
        out = subprocess.run(['dpkg-deb', '--field', deb] + list(fields), env=env,
                             check=True, stdout=subprocess.PIPE, text=True).stdout
        values = dict(line.split(': ', 1) for line in out.splitlines() if ': ' in line)
        return [values.get(field, '') for field in fields]

    available = {}
    for deb in sorted(glob.glob(os.path.join(d.getVar('DEPLOY_DIR_DEB'), '*', '*.deb'))):
        name, version, arch, depends = control(deb, 'Package', 'Version', 'Architecture', 'Depends')
        available[name] = (deb, version, arch, bb.utils.explode_deps(depends.replace(',', ' ')))

    wanted = (d.getVar('IMAGE_INSTALL') or '').split()
    needed_by = {name: 'IMAGE_INSTALL' for name in wanted}
    install = set()
    while wanted:
        name = wanted.pop()
        if name in install:
            continue
        if name not in available:
            bb.fatal("No package %s (needed by %s) in %s" % (name, needed_by[name], d.getVar('DEPLOY_DIR_DEB')))
        install.add(name)
        for dep in available[name][3]:
            needed_by.setdefault(dep, name)
            wanted.append(dep)

    rootfs = d.getVar('IMAGE_ROOTFS')
    for directory in (d.getVar('ROOTFS_DIRS') or '').split():
        bb.utils.mkdirhier(os.path.join(rootfs, directory))
    os.chmod(os.path.join(rootfs, 'tmp'), 0o1777)
    manifest = []
    for name in sorted(install):
        deb, version, arch, _ = available[name]
        bb.note("Installing %s %s" % (name, version))
        subprocess.run(['dpkg-deb', '--extract', deb, rootfs], env=env, check=True)
        manifest.append('%s %s %s\n' % (name, arch, version))
    imgdeploy = d.getVar('IMGDEPLOYDIR')
    bb.utils.mkdirhier(imgdeploy)
    with open(os.path.join(imgdeploy, d.getVar('IMAGE_NAME') + '.manifest'), 'w') as f:
        f.write(''.join(manifest))
}

addtask image after do_rootfs before do_build
do_image[dirs] = "${IMGDEPLOYDIR}"
do_image[sstate-inputdirs] = "${IMGDEPLOYDIR}"
do_image[sstate-outputdirs] = "${DEPLOY_DIR_IMAGE}"
do_image[postfuncs] += "rstore_publish_outputs"
do_image() {
	for fstype in ${IMAGE_FSTYPES}; do
		out="${IMGDEPLOYDIR}/${IMAGE_NAME}.rootfs.$fstype"
		rm -f "$out"
		tar --sort=name --format=gnu --numeric-owner --owner=0 --group=0 \
			--mtime=@${SOURCE_DATE_EPOCH} --hard-dereference \
			-C "${IMAGE_ROOTFS}" -cf - . > "${IMGDEPLOYDIR}/rootfs.tar"
		case "$fstype" in
		tar)     mv "${IMGDEPLOYDIR}/rootfs.tar" "$out" ;;
		tar.gz)  gzip -n -9 -c "${IMGDEPLOYDIR}/rootfs.tar" > "$out" ;;
		tar.bz2) bzip2 -9 -c "${IMGDEPLOYDIR}/rootfs.tar" > "$out" ;;
		tar.xz)  xz -9 -T1 -c "${IMGDEPLOYDIR}/rootfs.tar" > "$out" ;;
		tar.zst) zstd -q -19 -T1 -c "${IMGDEPLOYDIR}/rootfs.tar" > "$out" ;;
		*)       bbfatal "IMAGE_FSTYPES: unsupported image type $fstype" ;;
		esac
		rm -f "${IMGDEPLOYDIR}/rootfs.tar"
	done
}
