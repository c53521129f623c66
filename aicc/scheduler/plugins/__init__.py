"""Policies at the framework's extension points, each a small class registered by name in
`aicc.scheduler.profiles`: queue sort (`queue_sort`, `fairshare`), admission (`admission`),
score (`score`), accelerator model choice (`hetero`)."""
