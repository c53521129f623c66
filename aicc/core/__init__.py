"""The domain, pure: no I/O, no clock, no database (the `pure` import contract).

The job spec and its bounds (`jobspec`), the job and deployment state machines and reason codes
(`states`), units, ids, tenancy roles and token scopes, topology, the accelerator catalog,
money and billing periods, energy profiles, data sets and templates as values, the autoscaler's
arithmetic, revenue shares, the power cap, and what text a person reads may hold (`text`).
Every other floor may import it; it imports none.
"""
