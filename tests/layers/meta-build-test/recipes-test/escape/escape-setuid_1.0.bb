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
	echo "content $(tail -n 1 .${bindir}/escalate)|$(cat .${localstatedir}/writable)"
}
addtask show_modes after do_install before do_build

# A hostile task after do_install: it tries to change the files do_install stored, which
# reach it as a lower layer of its work directory. Whatever it does must stay in its own
# output; the store and later tasks keep what do_install recorded.
do_tamper() {
	cat > ${B}/tamper.c <<-'TAMPER'
	#include <stdio.h>
	#include <sys/mount.h>
	#include <sys/stat.h>
	#include <unistd.h>
	int main(void) {
		char line[8192], point[4096], path[64], target[4096];
	int points = 0;
		FILE *mounts = fopen("/proc/self/mountinfo", "r");
		while (mounts && fgets(line, sizeof line, mounts))
			if (sscanf(line, "%*s %*s %*s %*s %4095s", point) == 1) {
			points++;
				if (mount(NULL, point, NULL, MS_REMOUNT | MS_BIND, NULL) == 0)
					printf("REMOUNTED %s\n", point);
				if (mount(NULL, point, NULL, MS_REMOUNT, NULL) == 0)
					printf("REMOUNTED %s\n", point);
			}
		for (int fd = 3; fd < 1024; fd++) {
			struct stat st;
			snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
			ssize_t n = readlink(path, target, sizeof target - 1);
			if (n > 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
				target[n] = 0;
				printf("DIRECTORY OPEN %d %s\n", fd, target);
			}
		}
	printf("tried to remount %d mounts\n", points);
	return 0;
	}
	TAMPER
	gcc -o ${B}/tamper ${B}/tamper.c
	${B}/tamper
	f=${D}${bindir}/escalate
	echo tampered >> $f
	chmod 0777 $f
	ln $f ${D}${bindir}/escalate-link && echo tampered >> ${D}${bindir}/escalate-link
	echo tampered > ${D}${localstatedir}/writable
	echo "after: $(stat -c %a $f) $(tail -n 1 $f)"
}
do_tamper[dirs] = "${B}"
addtask tamper after do_install
