"""The model gateway: the data plane behind the OpenAI-compatible `/v1` (docs/gateway.md), a
floor of its own beside the API, which only mounts its `routes.router` and holds its `Gateway`
in `AppState.gateway`. It reaches the store through `services/serving/gateway.py`, never the tables.

One concept a module, from the request in to the bytes out: `routes` (the `/v1` routes, the
key read from the request), `forward` (limits, cold-start hold, routing and retries; `chat_as`
for the portal's playground), `admit` (between routing and the replica: a cold start timed out,
the tier's admission, content safety), `tiers` (service tiers: who waits when replicas are
saturated), `safety` (content safety's policies and checks, a stream's as it streams), `relay`
(a stream passed on event by event), `call` (one request
in flight and its record), `usage` (the usage a replica reports), `errors` (OpenAI-shaped
refusals); what the server keeps: `state` (`Gateway`: keys and targets cached, limits,
least-outstanding routing, the books), `pool` (the aiohttp clients to replicas), `request_log`
(the request log's group commit), `metrics` (its `/metrics` counters); and three pieces the API
shares: `cache` (`StoreCache`), `buckets` (`TokenBuckets`), `counted` (counters over `workers`).
"""
