"""Federation: several AICC servers (sites) as one market (docs/federation.md).

`signing` (requests between sites), `adverts` (what a site offers, stored per peer), `tenants`
(a calling site as a tenant here), `peers` (the signed HTTP client to the other sites),
`dispatch` (the home side: route, submit, mirror, lost sites, billing).
"""
