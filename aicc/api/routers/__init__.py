"""One router per resource, endpoint functions named `<noun>_<verb>` (the OpenAPI operation
id). A route parses, authorizes and calls its context's service, and answers the read model it
returns. No router imports another (the `routers` import contract)."""
