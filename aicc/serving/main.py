"""The command line: pick the engine, then serve until stopped (uvicorn), or hand over to
vLLM. Defaults come from a replica's environment: `$AICC_MODEL_DIR`, `$AICC_SERVICE_HOST`,
`$PORT`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import vllm_engine
from .app import Engine, State, create
from .choose import ENGINES, ChoiceError, classifier, engine_for, model_files
from .classifier import ClassifierModel
from .tables import TableModel
from .text import TextModel


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="python -m aicc.serving", description="Serve a model directory over HTTP."
    )
    parser.add_argument("--model", type=Path, default=env.get("AICC_MODEL_DIR"))
    parser.add_argument("--host", default=env.get("AICC_SERVICE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=env.get("PORT"))
    parser.add_argument("--name", help="the model's name in requests (default: the directory's)")
    parser.add_argument("--engine", choices=ENGINES, default="auto")
    parser.add_argument(
        "--adapters",
        type=Path,
        default=env.get("AICC_ADAPTERS_DIR") or None,
        help="LoRA adapters served over the model as NAME:ADAPTER, under DIR/OWNER/ADAPTER",
    )
    parser.add_argument(
        "--adapter-uploads",
        type=Path,
        default=None,
        help="without --adapters: take the adapters the gateway hands in, kept under DIR "
        "(a deployment's attached adapters; ignored where the engine serves none)",
    )
    parser.add_argument(
        "--adapter-cache-mb",
        type=float,
        default=float(env.get("AICC_ADAPTER_CACHE_MB") or 1024),
        help="the most adapter weights loaded at once, in MiB (least recently used evicted)",
    )
    args = parser.parse_args(argv)
    if args.model is None or args.port is None:
        parser.error("--model and --port are required (or $AICC_MODEL_DIR and $PORT)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    model: Path = args.model.resolve()
    name: str = args.name or model.name
    try:
        engine = engine_for(model) if args.engine == "auto" else args.engine
    except ChoiceError as e:
        print(f"aicc.serving: {e}", file=sys.stderr)
        return 2
    root: Path | None = args.adapters.resolve() if args.adapters else None
    uploads = root is None and args.adapter_uploads is not None and engine == "transformers"
    if uploads:
        root = args.adapter_uploads.resolve()
        root.mkdir(parents=True, exist_ok=True)
    bound = int(args.adapter_cache_mb * 2**20)
    if root is not None and engine != "transformers":
        # vLLM's multi-LoRA knows no tenants: until the replica checks them there, adapters
        # are served by the transformers engine only (docs/models.md).
        why = f"--adapters needs the transformers engine, not {engine}"
        print(f"aicc.serving: {why}", file=sys.stderr)
        return 2
    if engine == "vllm":
        return vllm_engine.run(model, args.host, args.port, name)
    import uvicorn

    def load() -> Engine:
        if engine == "transformers" and classifier(model):  # served as /v1/moderations
            return ClassifierModel.load(model_files(model))
        if engine == "transformers":
            text = TextModel.load(model_files(model))
            if root is not None:
                text.serve_adapters(bound)
            return text
        return TableModel.load(model)

    print(f"aicc.serving: {engine} engine, loading {model} as {name!r}", file=sys.stderr)
    state = State(name, load, adapters_root=root, uploads=uploads)
    server = uvicorn.Server(
        uvicorn.Config(create(state), host=args.host, port=args.port, log_level="info")
    )

    def stop() -> None:
        server.should_exit = True

    state.on_failure = stop
    server.run()
    return 1 if state.failed else 0
