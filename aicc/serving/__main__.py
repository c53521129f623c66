"""`python -m aicc.serving`: the program a deployment's replica runs (main.py), as
`python -m aicc.serving --model DIR --host HOST --port PORT [--name NAME]
[--engine auto|transformers|predict|vllm]`."""

from .main import main

raise SystemExit(main())
