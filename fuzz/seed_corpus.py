#!/usr/bin/env python3
"""Seeds the fuzz corpora from the project's own inputs: every program of the kernel-labelled
verifier corpus (tests/corpus/*.jsonl) as raw slots for verified_programs_never_fault, and
as a slots-given world (0xff, slot count as u16 LE, the slots) for the structure-aware
program targets (verifier_soundness, engines_agree, kernel_oracle); the example objects for
elf_objects and the example scenarios for scenario_files."""
import json
import pathlib
import shutil

root = pathlib.Path(__file__).resolve().parent
repo = root.parent
programs = root / "corpus" / "verified_programs_never_fault"
objects = root / "corpus" / "elf_objects"
scenarios = root / "corpus" / "scenario_files"
worlds = [root / "corpus" / t for t in ("verifier_soundness", "engines_agree", "kernel_oracle")]
for d in (programs, objects, scenarios, *worlds):
    d.mkdir(parents=True, exist_ok=True)
n = 0
for f in sorted((repo / "tests" / "corpus").glob("*.jsonl")):
    for line in f.read_text().splitlines():
        entry = json.loads(line)
        slots = bytes.fromhex(entry["insns_hex"])
        (programs / entry["id"]).write_bytes(slots)
        world = bytes([0xFF]) + (len(slots) // 8).to_bytes(2, "little") + slots
        for d in worlds:
            (d / entry["id"]).write_bytes(world)
        n += 1
for o in (repo / "examples").glob("*.o"):
    shutil.copy(o, objects / o.name)
for s in (repo / "examples" / "scenarios").glob("*.toml"):
    shutil.copy(s, scenarios / s.name)
print(f"{n} programs, {len(list(objects.iterdir()))} objects, "
      f"{len(list(scenarios.iterdir()))} scenarios")
