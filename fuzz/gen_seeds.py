#!/usr/bin/env python3
"""Regenerates the committed seed corpus, fuzz/corpus/<target>/seed-N.

Deterministic: candidates are random byte strings (16-400 bytes) from Python's `random` with a
fixed seed per target. Each target keeps the first SEEDS candidates that its model passes, so
every seed is a valid, passing scenario and the fuzzer, not the corpus, finds the crashes of the
historical models (most random inputs already break `legacy`). Verdicts come from
`lifecycle-sim replay` (exit 0: pass, 1: violation).

    python3 fuzz/gen_seeds.py [--sim PATH/TO/lifecycle-sim]

Without --sim it runs `cargo run --release -q -p lifecycle-sim --` from the repository root.
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile

SEEDS = 6
# target: (model, structured)
TARGETS = {
    "decisions_legacy": ("legacy", False),
    "decisions_abort_token": ("abort-token", False),
    "decisions_start_lock": ("start-lock", False),
    "decisions_owned": ("owned", False),
    "structured_owned": ("owned", True),
    "structured_legacy": ("legacy", True),
}

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sim", help="a built lifecycle-sim binary")
    args = parser.parse_args()
    sim = [args.sim] if args.sim else ["cargo", "run", "--release", "-q", "-p", "lifecycle-sim", "--"]

    with tempfile.TemporaryDirectory() as tmp:
        for target, (model, structured) in TARGETS.items():
            rng = random.Random("lifecycle-sim/" + target)
            out = os.path.join(ROOT, "fuzz", "corpus", target)
            shutil.rmtree(out, ignore_errors=True)
            os.makedirs(out)
            kept = tried = 0
            while kept < SEEDS:
                tried += 1
                if tried > 1000:
                    sys.exit(f"{target}: fewer than {SEEDS} passing inputs in 1000 candidates")
                data = bytes(rng.randrange(256) for _ in range(rng.randint(16, 400)))
                if data.lstrip()[:1] == b"{":
                    continue  # replay would read it as a JSON case
                path = os.path.join(tmp, "candidate")
                with open(path, "wb") as f:
                    f.write(data)
                cmd = sim + ["replay", "--model", model, "--decisions", path]
                cmd.append("--structured" if structured else "--fuzz")
                rc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL).returncode
                if rc == 0:
                    with open(os.path.join(out, f"seed-{kept}"), "wb") as f:
                        f.write(data)
                    kept += 1
                elif rc != 1:
                    sys.exit(f"{' '.join(cmd)} exited {rc}")
            print(f"{target}: kept {kept} of {tried} candidates")


if __name__ == "__main__":
    main()
