"""Writes the example: a shop's click log (user_id, item_id, clicks, timestamp) where shoppers
fall into taste groups (baby goods, sports, kitchen, ...) and mostly click within their group's
products, popular products more often and more times; each shopper's last click is what the
test predicts."""

import csv
import random
import sys
from datetime import datetime, timedelta
from pathlib import Path

CATEGORIES = ["BABY", "SPORT", "KITCH", "BEAUTY", "DIGIT", "SNACK", "HOME", "PET"]
USERS, ITEMS_PER_CATEGORY = 400, 25


def main(dest: Path) -> None:
    rng = random.Random(19)
    items = [f"{c}-{i:03d}" for c in CATEGORIES for i in range(ITEMS_PER_CATEGORY)]
    by_category = {c: [i for i in items if i.startswith(c)] for c in CATEGORIES}
    # Within a category a few products sell most (a Zipf-like popularity).
    weights = [1 / (1 + int(i.rsplit("-", 1)[1])) ** 0.8 for i in by_category[CATEGORIES[0]]]
    start = datetime(2026, 9, 1, 8, 0)
    rows = []
    for u in range(USERS):
        user = f"U{u:04d}"
        tastes = rng.sample(CATEGORIES, 2)
        when = start + timedelta(minutes=rng.randrange(60 * 24 * 10))
        seen: set[str] = set()
        for _ in range(rng.randint(12, 24)):
            liked = rng.random() < 0.85
            if liked:
                category = tastes[0] if rng.random() < 0.65 else tastes[1]
                item = rng.choices(by_category[category], weights)[0]
            else:  # a stray click
                item = rng.choice(items)
            if item in seen:
                continue
            seen.add(item)
            when += timedelta(minutes=rng.randrange(5, 60 * 30))
            clicks = 1 + min(4, int(rng.expovariate(0.8))) if liked else 1
            rows.append((user, item, clicks, when.strftime("%Y-%m-%d %H:%M:%S")))
    dest.mkdir(parents=True, exist_ok=True)
    with open(dest / "clicks.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["user_id", "item_id", "clicks", "timestamp"])
        writer.writerows(rows)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
