#!/bin/sh
# Rebuilds bpf/recorder.o, the recorder program `sockops record` and `sockops compare` attach
# (embedded in the binary), from recorder.c: clang -O2 -g -target bpf, against libbpf's
# headers (Debian/Ubuntu: apt-get install clang libbpf-dev). The .o is committed so building
# sockops needs no clang.
set -eu
cd "$(dirname "$0")"
CLANG="${CLANG:-$(command -v clang-19 || command -v clang)}"
MULTIARCH_INC="/usr/include/$(uname -m)-linux-gnu"
echo "$CLANG -O2 -g -target bpf -c recorder.c -o recorder.o"
"$CLANG" -O2 -g -target bpf -I"$MULTIARCH_INC" -c recorder.c -o recorder.o
