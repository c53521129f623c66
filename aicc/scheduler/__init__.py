"""The scheduler as a pure function, `framework.schedule(snapshot, profile)`: a cycle over named
extension points whose plugins (`plugins/`), actions (`actions/`) and vector placement policies
(`placement/`) are registries a profile names (`profiles`). No I/O and no clock: the live server,
`explain`, the job simulator and the benchmarks call the same code on a snapshot, and the
decision hashes (`aicc.bench.decisions`) show any change to what it decides.
"""
