#!/usr/bin/env python3
"""Generates the example batches of the pkpo command-line tool (Python standard library only).

    python3 examples/make_examples.py            # rewrites examples/binary.csv, continuous.csv

Each file is one RL batch of 64 prompts x 16 sampled responses, the shape pkpo is built for, with
the rows shuffled (a trainer's batch is rarely sorted by prompt) and prompt ids that look like the
uuids trainers such as verl attach to each prompt:

- binary.csv      group,sample,response_tokens,reward: a verifier's 0/1 correctness. Each prompt
                  has its own solve rate, from hopeless (never solved in 16 tries) to easy, which is
                  where pass@k training matters: a prompt solved once in 16 gets a large signal.
- continuous.csv  group,sample,response_tokens,reward: a reward model's score in [0, 1] (4
                  decimals), prompt-dependent mean and spread.

The generator is seeded, so the committed files are reproducible byte for byte.
"""
import os
import random
import uuid

PROMPTS = 64
SAMPLES = 16
SEED = 20251121


def prompt_ids(rng):
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(PROMPTS)]


def write(path, rows):
    rows = list(rows)
    random.Random(SEED + len(path)).shuffle(rows)
    with open(path, "w", newline="") as f:
        f.write("group,sample,response_tokens,reward\n")
        for r in rows:
            f.write(",".join(str(x) for x in r) + "\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    rng = random.Random(SEED)

    ids = prompt_ids(rng)
    rows = []
    for pid in ids:
        # solve rates skewed towards hard prompts: a quarter of them almost never solved
        u = rng.random()
        p = 0.0 if u < 0.2 else min(1.0, rng.betavariate(0.6, 1.4) if u < 0.8 else rng.random())
        for s in range(SAMPLES):
            correct = 1 if rng.random() < p else 0
            tokens = int(rng.lognormvariate(6.0 if correct else 6.4, 0.5))
            rows.append((pid, s, tokens, correct))
    write(os.path.join(here, "binary.csv"), rows)

    ids = prompt_ids(rng)
    rows = []
    for pid in ids:
        mean = rng.uniform(0.15, 0.85)
        spread = rng.uniform(0.02, 0.2)
        for s in range(SAMPLES):
            score = min(1.0, max(0.0, rng.gauss(mean, spread)))
            tokens = int(rng.lognormvariate(6.2, 0.5))
            rows.append((pid, s, tokens, f"{score:.4f}"))
    write(os.path.join(here, "continuous.csv"), rows)


if __name__ == "__main__":
    main()
