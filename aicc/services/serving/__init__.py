"""Serving: deployments and their replicas, the autoscaler, API keys, and what the model
gateway (`aicc/gateway`) reads and writes."""
