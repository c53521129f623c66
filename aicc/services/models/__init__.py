"""Models and templates: the registry, the marketplace's templates, their estimates, searches,
reviews, cleaning jobs, and what finished jobs leave behind (outputs)."""
