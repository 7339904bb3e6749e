# quilt 0.69 is not served here (Debian lists the identical file but its pool answers 404): the nearest release, 0.68, which Debian carries as upstream's signed tarball.
PV = "0.68"
SRC_URI[sha256sum] = "fe8c09de03c106e85b3737c8f03ade147c956b79ed7af485a1c8a3858db38426"
# 0.68 has no contrib/spec-filters/obs, the file this 0.69 patch changes.
SRC_URI:remove = "file://0001-contrib-spec-filters-obs-usr-bin-sh-bin-sh.patch"
