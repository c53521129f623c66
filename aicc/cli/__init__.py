"""The `aicc` command (Typer and Rich): `main` mounts one module per noun, each built on
`nouns.Noun`; `output` prints tables, JSON and errors. It talks to the server only through the
SDK, and `--json` prints the read models as the API answers them."""
