"""What the gang link (`aicc/executors/ganglink.py`) costs a gang spread over several nodes,
against the node's network it used before (issue 35, point 2).

A gang over several nodes (Slurm, Ray) meets on the gang link: each node's namespace of the job
attempt gets `gang0` on a private Ethernet segment whose frames Python relays carry over TCP to
node rank 0's relay, the hub. Here two namespaces of one job attempt on this machine stand for
node ranks 0 and 1 (`netns.prefix(..., link=...)`, as the Slurm and Ray executors write it), so
every frame goes through both relays over the machine's loopback; the gang is a torchrun-style
2-replica Gloo all-reduce of `--mib` MiB of float32 (`--iterations` after one warm-up, ms per
all-reduce, rank 0's), both replicas in the bubblewrap sandbox:

- gang link: MASTER_ADDR the hub's gang address (10.254.0.1), GLOO_SOCKET_IFNAME gang0;
- node network: the same replicas without a namespace, MASTER_ADDR 127.0.0.1.

The two alternate, `--pairs` times; each pair is a fresh attempt (its own key and namespaces).
Needs bubblewrap, torch, and root or user namespaces with /dev/net/tun. Prints JSON (ms).

    .venv/bin/python -m benchmarks.gang_link
    .venv/bin/python -m benchmarks.gang_link --pairs 5 --mib 64

Run it with `-m`, from the repository's root: it shares `job_netns.py`'s all-reduce.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from aicc.executors import ganglink, netns, sandbox
from aicc.testing.servers import free_port
from benchmarks.job_netns import all_reduce, alone, boxed


def linked_argv(
    box: sandbox.Sandbox, tmp: Path, job: Path, attempt: int, hub: str, key: Path, rank: int
) -> list[str]:
    """Node rank `rank`'s replica: in its node's namespace of the attempt, on the gang link."""
    place = netns.net_dir(job, attempt, f"n{rank}")  # two nodes' namespaces on this machine
    return [*netns.prefix(place, link=netns.Link(rank, hub, key)), *boxed(box, tmp)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3, help="runs of each, alternating")
    parser.add_argument("--mib", type=int, default=8, help="the all-reduce's tensor")
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    box = sandbox.detect("bwrap")
    assert box is not None
    pairs = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        job = tmp / "job"
        for attempt in range(args.pairs):
            plain = functools.partial(alone, box, tmp)  # no namespace: the node's network
            node = all_reduce(tmp, plain, {}, args.mib, args.iterations)
            key = netns.link_key(job, attempt)
            ganglink.write_key(key)
            hub = f"127.0.0.1:{free_port()}"  # node rank 0's relay, in the nodes' network
            on_link = {"MASTER_ADDR": ganglink.hub_address(), "GLOO_SOCKET_IFNAME": ganglink.DEVICE}
            linked = functools.partial(linked_argv, box, tmp, job, attempt, hub, key)
            gang = all_reduce(tmp, linked, on_link, args.mib, args.iterations)
            pairs.append({"node_network_ms": node, "gang_link_ms": gang})
    node = statistics.median(p["node_network_ms"] for p in pairs)
    gang = statistics.median(p["gang_link_ms"] for p in pairs)
    out: dict[str, Any] = {
        "mib": args.mib,
        "iterations": args.iterations,
        "pairs": pairs,
        "median_node_network_ms": node,
        "median_gang_link_ms": gang,
        "ratio": round(gang / node, 2),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
