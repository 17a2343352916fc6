#!/bin/sh
# Rebuilds the test objects (tests/objects/*.o) from their C sources, as examples/build.sh
# builds the examples (clang -O2 -g -target bpf, libbpf's headers). The .o files are
# committed so tests do not need clang.
set -eu
cd "$(dirname "$0")"
CLANG="${CLANG:-$(command -v clang-19 || command -v clang)}"
MULTIARCH_INC="/usr/include/$(uname -m)-linux-gnu"
for src in *.c; do
    obj="${src%.c}.o"
    echo "$CLANG -O2 -g -target bpf -c $src -o $obj"
    "$CLANG" -O2 -g -target bpf -I"$MULTIARCH_INC" -c "$src" -o "$obj"
done
