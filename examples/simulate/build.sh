#!/bin/sh
# Rebuilds the `sockops simulate` example object from its C source (see ../build.sh).
set -eu
cd "$(dirname "$0")"
CLANG="${CLANG:-$(command -v clang-19 || command -v clang)}"
MULTIARCH_INC="/usr/include/$(uname -m)-linux-gnu"
echo "$CLANG -O2 -g -target bpf -c net_tuning.c -o net_tuning.o"
"$CLANG" -O2 -g -target bpf -I"$MULTIARCH_INC" -c net_tuning.c -o net_tuning.o
