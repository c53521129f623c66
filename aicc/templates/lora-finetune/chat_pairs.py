"""`python chat_pairs.py chat.jsonl OUT`: an OpenAI fine-tuning file (a chat per line,
`{"messages": [{"role": ..., "content": ...}, ...]}`) as the question-answer pairs `train.py`
learns from (`OUT/pairs.jsonl`): each assistant turn answers the user turn before it. Run inside
the fine-tuning job (docs/interop.md), so the tenant's file is read in the job's sandbox only; a
line that is no chat stops the job with its number."""

import json
import sys
from pathlib import Path

MIN_PAIRS = 10  # OpenAI's least number of examples


def pairs(text: str) -> list[dict[str, str]]:
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            chat = json.loads(line)
        except ValueError:
            raise SystemExit(f"line {number}: not a JSON object") from None
        messages = chat.get("messages") if isinstance(chat, dict) else None
        if not isinstance(messages, list) or not messages:
            raise SystemExit(f"line {number}: no `messages` list")
        question = None
        for message in messages:
            if not isinstance(message, dict) or not isinstance(message.get("content"), str):
                raise SystemExit(f"line {number}: a message without text `content`")
            role = message.get("role")
            if role == "user":
                question = message["content"]
            elif role == "assistant" and question is not None:
                out.append({"question": question, "answer": message["content"]})
                question = None
            elif role not in ("system", "assistant"):
                raise SystemExit(f"line {number}: role {role!r} is not system, user or assistant")
    if len(out) < MIN_PAIRS:
        raise SystemExit(
            f"the file holds {len(out)} user-assistant turns; give at least {MIN_PAIRS}"
        )
    return out


def main() -> None:
    source, folder = Path(sys.argv[1]), Path(sys.argv[2])
    found = pairs(source.read_text(encoding="utf-8"))
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "pairs.jsonl", "w", encoding="utf-8") as out:
        for pair in found:
            out.write(json.dumps(pair, ensure_ascii=False) + "\n")
    print(f"{len(found)} question-answer pairs")


if __name__ == "__main__":
    main()
