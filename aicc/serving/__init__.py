"""Serving (模型服务): the program a deployment's replica runs to serve a registered model over
HTTP, `python -m aicc.serving --model DIR --host HOST --port PORT [--name NAME] [--engine
auto|transformers|predict|vllm]`.

Engines: `transformers` (a causal LM or a LoRA adapter: OpenAI-compatible chat, completions
and embeddings), `predict` (a template-trained model: `POST /predict` runs its predict.py),
`vllm` (vLLM's own server, on GPUs). The package imports no other AICC package and imports
relatively, so a job ships `aicc/serving/*.py` as its working directory and runs it with the
server's Python, without a server.
"""
