#!/bin/bash -eu
# Builds every cargo-fuzz target of sockops for ClusterFuzzLite / OSS-Fuzz and ships each
# with its seed corpus (the project's own inputs, as fuzz/seed_corpus.py gathers them).
cd "$SRC/sockops/fuzz"
python3 seed_corpus.py
cargo fuzz build -O
for target in $(cargo fuzz list); do
  cp "target/x86_64-unknown-linux-gnu/release/$target" "$OUT/"
  if [ -d "corpus/$target" ]; then
    (cd "corpus/$target" && zip -q -r "$OUT/${target}_seed_corpus.zip" .)
  fi
done
