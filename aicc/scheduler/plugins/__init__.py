"""Policies at the framework's extension points, each a small class (and a factory of its
arguments) registered by name in its point's registry in `aicc.scheduler.profiles`: queue sort
(`queue_sort`, `service`, `fairshare`), admission (`admission`, `budget`), score (`score`),
accelerator model choice (`hetero`). Plugins see the cycle through `base.Cycle`, never its
module. A new policy: a module here and one line in the registry of its point."""
