"""Trace simulators that drive the scheduler's own placement code (`aicc.scheduler`).

`openb`: the FGD paper's experiment on the Alibaba GPU trace v2023; `synthetic`: small generated
clusters and pod lists for tests.
"""
