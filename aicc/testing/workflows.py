"""The three-step workflow the interoperability tests run with the real Snakemake (against the
S3 endpoint from outside, tests/s3/test_s3_snakemake.py, and through TES inside jobs,
tests/e2e/test_tes_snakemake.py): step 1 reads a data set version's file through
`storage.s3(...)`, steps 2 and 3 read the earlier steps' outputs, so each must find what the
one before it stored. The data and what each step must have made."""

from __future__ import annotations

READS = b"gattaca\nacgt\ntttt\ncat\n"  # `reads.txt` of the data set `genome@1`
UPPER = READS.upper()
SORTED = b"".join(sorted(UPPER.splitlines(keepends=True)))
REPORT = SORTED + UPPER  # step 3 reads both earlier steps' outputs

SNAKEFILE = """
rule all:
    input: "report.txt"

rule upper:
    input: storage.s3("s3://default/genome/1/reads.txt")
    output: "upper.txt"
    shell: "tr a-z A-Z < {input} > {output}"

rule sort:
    input: "upper.txt"
    output: "sorted.txt"
    shell: "LC_ALL=C sort {input} > {output}"

rule report:
    input: sorted="sorted.txt", upper="upper.txt"
    output: "report.txt"
    shell: "cat {input.sorted} {input.upper} > {output}"
"""
