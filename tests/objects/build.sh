#!/bin/sh
# Rebuilds the test objects (tests/objects/*.o) from their C sources with the examples'
# recipe (examples/build.sh). The .o files are committed so tests do not need clang.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/../../examples/build.sh" "$here"
