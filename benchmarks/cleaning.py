"""Cleaning throughput: records per second of each step of `python -m aicc.cleaning`, alone and
all together, over generated text.

It writes a corpus of JSONL files (English and Chinese sentences of 100 to 600 characters; 5%
exact repeats, 5% near repeats with a word changed, 3% carrying a phone, an ID, a card or an
e-mail), then runs the real runner once per step in its own process and prints the records in,
the seconds, records and MB per second, the records removed or masked and the process's peak
memory.

    .venv/bin/python benchmarks/cleaning.py [--mb 100] [--dir /tmp/aicc-clean-bench]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from aicc.cleaning.pii import luhn_valid

_VOCABULARY = (
    "data compute job node queue tenant quota version chunk model train scheduler storage "
    "cluster accelerator memory network latency cache replica dataset pipeline clean token "
    "the a of and to in is for with on that by this from at as are be it was"
)
WORDS = tuple(_VOCABULARY.split())
HAN = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严"  # noqa: E501


def _english(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 100))).capitalize() + "."


def _chinese(rng: random.Random) -> str:
    return "".join(rng.choice(HAN) for _ in range(rng.randint(40, 200))) + "。"


def _edit(rng: random.Random, text: str) -> str:
    """The text with one word (one character of Chinese) changed."""
    if " " not in text:
        i = rng.randrange(len(text) - 1)
        return text[:i] + rng.choice(HAN) + text[i + 1 :]
    words = text.split(" ")
    words[rng.randrange(len(words))] = rng.choice(WORDS)
    return " ".join(words)


def _card(rng: random.Random) -> str:
    base = "62" + "".join(rng.choice("0123456789") for _ in range(15))
    return next(base + d for d in "0123456789" if luhn_valid(base + d))


def _pii(rng: random.Random) -> str:
    return rng.choice(
        [
            f" 电话 1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}",
            " 身份证 11010519491231002X",
            f" card {_card(rng)}",
            f" mail user{rng.randint(0, 9999)}@example.com",
        ]
    )


def generate(root: Path, megabytes: int, seed: int = 7) -> int:
    """JSONL files of about `megabytes` MB under `root`; the number of records."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    kept: list[str] = []
    written = records = part = 0
    out = None
    while written < megabytes * 1_000_000:
        if out is None or out.tell() > 20_000_000:
            out = (root / f"part-{part:03d}.jsonl").open("w", encoding="utf-8")
            part += 1
        roll = rng.random()
        if roll < 0.05 and kept:
            text = rng.choice(kept)
        elif roll < 0.10 and kept:
            text = _edit(rng, rng.choice(kept))
        else:
            text = _english(rng) if rng.random() < 0.7 else _chinese(rng)
            if rng.random() < 0.03:
                text += _pii(rng)
            kept.append(text)
        line = json.dumps({"id": records, "text": text}, ensure_ascii=False) + "\n"
        out.write(line)
        written += len(line.encode())
        records += 1
    return records


def measure(source: Path, target: Path, steps: str) -> dict[str, object]:
    """One run of the runner in its own process: its report, wall time and peak memory."""
    shutil.rmtree(target, ignore_errors=True)
    began = time.monotonic()
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "aicc.cleaning", "--input", str(source)),
            *("--output", str(target), "--steps", steps, "--min-chars", "20", "--lang", "zh,en"),
        ],
        stdout=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - began
    if status != 0:
        raise SystemExit(f"the runner failed on --steps {steps}")
    report = json.loads((target / "_aicc_clean_report.json").read_text(encoding="utf-8"))
    return {"report": report, "wall": wall, "peak_mib": usage.ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="corpus size in MB")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/aicc-clean-bench"))
    parser.add_argument("--steps", nargs="+", default=["dedup", "near_dup", "filter", "pii", "all"])
    args = parser.parse_args()
    source = args.dir / "in"
    shutil.rmtree(args.dir, ignore_errors=True)
    records = generate(source, args.mb)
    size = sum(p.stat().st_size for p in source.iterdir()) / 1e6
    print(f"corpus: {records:,} records, {size:.1f} MB in {source}")
    print(f"{'steps':<28} {'seconds':>8} {'records/s':>10} {'MB/s':>6} {'peak MiB':>9}  effect")
    for step in args.steps:
        steps = "dedup,near_dup,filter,pii" if step == "all" else step
        run = measure(source, args.dir / "out", steps)
        report, wall = run["report"], float(run["wall"])  # type: ignore[arg-type]
        assert isinstance(report, dict)
        effect = {k: v for k, v in {**report["removed"], **report["masked"]}.items() if v}
        print(
            f"{steps:<28} {wall:>8.1f} {records / wall:>10,.0f} {size / wall:>6.1f} "
            f"{run['peak_mib']:>9.0f}  {effect}"
        )


if __name__ == "__main__":
    main()
