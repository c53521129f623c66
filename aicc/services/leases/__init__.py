"""The leases context: an organization's dedicated nodes or devices for a span of time, which
the scheduler keeps for its jobs (and lends to others' preemptible work where it lets it)."""
