"""The REST face (docs/api.md): the FastAPI application, the caller and the request's one
session (`deps`), limits, the route parameters and answers several routers share (`params`,
`responses`), one router per resource (`routers/`) and the request bodies (`schemas/`). It
reaches tables, engines, the scheduler and the loops only through services; `/v1` is the
gateway's (`aicc.gateway`), which `app` only mounts."""
