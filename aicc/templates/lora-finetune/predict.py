"""Answers questions with the fine-tuned model: a JSON lines (or CSV) file of `question` gives
JSON lines of `question, answer` (greedy decoding).

Also what `train.py` shares with it (it imports this file): the prompt, the tokenizer built
from the data and the tiny base model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aicc_template

PROMPT = "问：{question}\n答："
SPECIAL = {"pad_token": "[PAD]", "unk_token": "[UNK]", "bos_token": "[BOS]", "eos_token": "[EOS]"}
MAX_NEW_TOKENS = 64


def prompt(question: str) -> str:
    return PROMPT.format(question=question.strip())


def train_tokenizer(texts: list[str], vocab_size: int) -> Any:
    """A small byte-pair tokenizer learned from the data itself (nothing downloaded)."""
    from tokenizers import Tokenizer, decoders, models, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token=SPECIAL["unk_token"]))
    tokenizer.decoder = decoders.BPEDecoder()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL.values()))
    tokenizer.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **SPECIAL)


def tiny_model(vocab_size: int) -> Any:
    """A tiny Llama (hidden 64, 2 layers) built from its config: the `tiny` base model."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=256,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config)


def load(model_dir: Path) -> tuple[Any, Any]:
    """The base model with the adapter, and the tokenizer, from a trained model's directory."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    settings = json.loads((model_dir / "aicc.json").read_text())
    base_path = model_dir / "base" if settings["base_model"] == "tiny" else settings["base_model"]
    base = AutoModelForCausalLM.from_pretrained(base_path, local_files_only=True)
    model = PeftModel.from_pretrained(base, model_dir).to(aicc_template.device()).eval()
    return model, AutoTokenizer.from_pretrained(model_dir, local_files_only=True)


def answer(model: Any, tokenizer: Any, questions: list[str]) -> list[str]:
    """Greedy answers, one question at a time (no padding to get wrong)."""
    import torch

    out = []
    for question in questions:
        ids = tokenizer(prompt(question), return_tensors="pt").input_ids.to(model.device)
        with torch.no_grad():
            generated = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=MAX_NEW_TOKENS,
                do_sample=False,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        text = tokenizer.decode(generated[0, ids.shape[1] :], skip_special_tokens=True)
        out.append(text.strip())
    return out


def main() -> None:
    import torch

    torch.set_num_threads(1)
    args = aicc_template.predict_args()
    model, tokenizer = load(args.model)
    questions = [str(q or "") for q in aicc_template.read_table(args.input)["question"]]
    answers = answer(model, tokenizer, questions)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as out:
        for question, text in zip(questions, answers, strict=True):
            out.write(json.dumps({"question": question, "answer": text}, ensure_ascii=False))
            out.write("\n")


if __name__ == "__main__":
    main()
