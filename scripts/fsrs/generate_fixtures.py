#!/usr/bin/env python3
"""Writes golden FSRS fixtures from the reference `fsrs` package (PyPI 6.3.2, Scheduler defaults, fuzzing off).

    python3 -m pip install fsrs==6.3.2
    python3 scripts/fsrs/generate_fixtures.py --seed 20261126 --logs 300 > Tests/StudyCoreTests/Fixtures/fsrs-golden.json

Each log is a random sequence of reviews (wrong = Again, correct = Good) with gaps from seconds to months; after every review
the card's state, step, stability, difficulty and due are recorded, and retrievability is sampled at a later time.
"""
import argparse
import json
import random
from datetime import datetime, timedelta, timezone

import fsrs

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def ms(dt):
    return (dt - EPOCH) // timedelta(milliseconds=1)


def gap(rng):
    kind = rng.random()
    if kind < 0.25:
        return timedelta(seconds=rng.randint(1, 600))           # within a session
    if kind < 0.5:
        return timedelta(minutes=rng.randint(5, 24 * 60))       # same day or next
    if kind < 0.85:
        return timedelta(days=rng.randint(1, 40), milliseconds=rng.randint(0, 86_399_999))
    return timedelta(days=rng.randint(40, 240), milliseconds=rng.randint(0, 86_399_999))  # months


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--logs", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    scheduler = fsrs.Scheduler(enable_fuzzing=False)
    logs = []
    for _ in range(args.logs):
        card = fsrs.Card()
        t = datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=rng.randint(0, 10**11))
        p_correct = rng.choice([0.3, 0.6, 0.8, 0.95])
        reviews = []
        for _ in range(rng.randint(1, 30)):
            correct = rng.random() < p_correct
            card, _ = scheduler.review_card(card, fsrs.Rating.Good if correct else fsrs.Rating.Again, t)
            probe = t + gap(rng)
            reviews.append({
                "answeredAt": ms(t), "correct": correct,
                "state": int(card.state), "step": card.step,
                "stability": card.stability, "difficulty": card.difficulty, "due": ms(card.due),
                "probeAt": ms(probe), "retrievability": scheduler.get_card_retrievability(card, probe),
            })
            t = probe if rng.random() < 0.5 else t + gap(rng)
        logs.append(reviews)
    json.dump({"generator": "fsrs 6.3.2, Scheduler(enable_fuzzing=False)", "seed": args.seed, "logs": logs}, __import__("sys").stdout, indent=None)
    print()


if __name__ == "__main__":
    main()
