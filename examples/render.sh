#!/bin/sh
# render.sh MANIFEST [BUILD_DIR] - prints an example's manifest with BOSUN_EXAMPLES replaced by
# the absolute path of the built examples (BUILD_DIR/examples; default: build/ of this checkout).
# The example services run from the build tree through the `host` image, so no registry is
# needed; only this path is machine specific.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 MANIFEST [BUILD_DIR]" >&2; exit 2; }
here=$(cd "$(dirname "$0")/.." && pwd)
build=${2:-${BOSUN_BUILD_DIR:-$here/build}}
build=$(cd "$build" && pwd)
[ -d "$build/examples" ] || { echo "$0: $build/examples does not exist (build first)" >&2; exit 1; }
sed "s|BOSUN_EXAMPLES|$build/examples|g" "$1"
