"""`python -m aicc.cleaning`: the program a cleaning job runs (runner.py), as
`python -m aicc.cleaning --input DIR --output DIR --steps dedup,near_dup,filter,pii`."""

from aicc.cleaning.runner import main

raise SystemExit(main())
