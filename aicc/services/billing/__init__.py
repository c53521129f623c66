"""The compute service's books: price plans, credits (vouchers, subsidies), budgets, metering,
rating, invoices, utilization KPIs and the Prometheus exposition (docs/billing.md).

A services-level package: its functions take a session (and the calling principal where a
tenant asks), read and write the store, and leave the pure arithmetic to `aicc.core.pricing`
(`charge`, `settle`) and `aicc.core.periods`.
"""
