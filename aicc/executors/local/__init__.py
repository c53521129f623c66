"""Replicas as processes on this machine: each under a detached supervisor that talks to the
server only through files in its run directory, so a server's crash loses no replica."""
