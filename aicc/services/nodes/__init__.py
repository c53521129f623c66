"""Nodes: the machines and devices the scheduler places on, and their health."""
