"""`python -m aicc.cleaning`: the program a cleaning job runs (runner.py)."""

from aicc.cleaning.runner import main

raise SystemExit(main())
