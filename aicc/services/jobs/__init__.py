"""Jobs: submit, the one state writer, logs, waiting, estimates, endpoints, notebooks, and the
scheduler's snapshot of nodes and waiting jobs."""
