"""What the center measures of itself: device samples, utilization KPIs and the Prometheus
exposition (docs/billing.md). Reads the store; bills nothing."""
