SUMMARY = "Records what the sandbox pins on every machine (reproducible)"
DESCRIPTION = "Host name, user, work path, SOURCE_DATE_EPOCH, umask, locale, time \
zone and the environment: each would make a build unreproducible elsewhere, and \
none may under rstore."
LICENSE = "CLOSED"
B = "${WORKDIR}/build"

do_compile() {
	{
		echo "hostname: $(hostname) $(uname -n)"
		echo "user: $(id -un) $(id -u):$(id -g) home=$HOME"
		echo "path: $(pwd) ${WORKDIR}"
		echo "source date: $SOURCE_DATE_EPOCH $(date -u -d @$SOURCE_DATE_EPOCH +%Y-%m-%d)"
		echo "umask: $(umask)"
		echo "locale: LANG=$LANG LC_ALL=$LC_ALL $(printf '%s\n' b A a B | sort | tr '\n' ' ')"
		echo "timezone: TZ=$TZ $(date -d @0 +%H:%M%z)"
		echo "environment:"
		env | grep -v '^_=' 
	} > pinned
}
