"""`chat_pairs.py`, which a fine-tuning job runs in its sandbox (docs/interop.md): an OpenAI
chat file becomes the LoRA template's question-answer pairs, and a file that is no chat stops
the job with the line that is wrong."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import aicc

SCRIPT = Path(aicc.__file__).parent / "templates" / "lora-finetune" / "chat_pairs.py"


def run(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "chat.jsonl").write_text(text, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(SCRIPT), "chat.jsonl", "pairs"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )


def chat(question: str, answer: str) -> str:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": question},
        {"role": "assistant", "content": answer},
    ]
    return json.dumps({"messages": messages}, ensure_ascii=False) + "\n"


def test_each_assistant_turn_answers_the_user_turn_before_it(tmp_path: Path) -> None:
    done = run(tmp_path, "".join(chat(f"问题{i}", f"回答{i}") for i in range(12)) + "\n")
    assert done.returncode == 0, done.stderr
    pairs = [json.loads(line) for line in (tmp_path / "pairs" / "pairs.jsonl").open()]
    assert pairs[0] == {"question": "问题0", "answer": "回答0"} and len(pairs) == 12


def test_a_file_that_is_no_chat_names_its_line(tmp_path: Path) -> None:
    bad = run(tmp_path, chat("q", "a") + '{"messages": [{"role": "tool", "content": "x"}]}\n')
    assert bad.returncode != 0 and "line 2" in bad.stderr
    assert "line 1" in run(tmp_path, "not json\n").stderr
    few = run(tmp_path, chat("q", "a") * 3)
    assert few.returncode != 0 and "at least 10" in few.stderr
