"""`python -m aicc.serving`: the program a deployment's replica runs (main.py)."""

from .main import main

raise SystemExit(main())
