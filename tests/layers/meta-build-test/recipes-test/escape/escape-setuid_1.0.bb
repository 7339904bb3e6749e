SUMMARY = "Installs a setuid program and shared directories, and looks at them afterwards"
DESCRIPTION = "For the escape tests: no store checkout on the host may carry a setuid \
or setgid bit or a world-writable mode, yet the tasks after do_install must still \
see the modes do_install gave."
LICENSE = "CLOSED"

B = "${WORKDIR}/build"

do_install() {
	install -d ${D}${bindir} ${D}${localstatedir}
	printf '#!/bin/sh\necho privileged\n' > ${D}${bindir}/escalate
	chmod 4755 ${D}${bindir}/escalate
	install -d -m 1777 ${D}${localstatedir}/shared
	install -d -m 2775 ${D}${localstatedir}/group-owned
	echo anyone > ${D}${localstatedir}/writable
	chmod 0666 ${D}${localstatedir}/writable
}

do_show_modes() {
	cd ${D}
	stat -c 'mode %a %n' .${bindir}/escalate .${localstatedir}/shared .${localstatedir}/group-owned .${localstatedir}/writable
}
addtask show_modes after do_install before do_build
