"""The only code that touches an engine: one package per engine (`local`, `slurm`, `ray`,
`kubernetes`) on one base (`base.Executor`, its `Capabilities`), and what they share: run
directories, environments, cancel files, workdirs, the sandbox, network namespaces and the
guard that reads what a job wrote (`jobfiles`). Executors never import the store.
"""
