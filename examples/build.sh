#!/bin/sh
# Rebuilds the example BPF objects (examples/*.o, or those of the directory given, e.g.
# tests/objects) from their C sources, the way users build
# sock_ops programs: clang -O2 -g -target bpf -c prog.c -o prog.o, against libbpf's headers
# (Debian/Ubuntu: apt-get install clang libbpf-dev). The .o files are committed so tests do
# not need clang.
set -eu
cd "${1:-$(dirname "$0")}"
CLANG="${CLANG:-$(command -v clang-19 || command -v clang)}"
# -target bpf does not search the multiarch include directory that holds <asm/types.h>.
MULTIARCH_INC="/usr/include/$(uname -m)-linux-gnu"
for src in *.c; do
    obj="${src%.c}.o"
    echo "$CLANG -O2 -g -target bpf -c $src -o $obj"
    "$CLANG" -O2 -g -target bpf -I"$MULTIARCH_INC" -c "$src" -o "$obj"
done
