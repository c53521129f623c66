"""Models and templates: the registry, the marketplace's templates, their estimates, searches,
reviews, and what finished jobs leave behind (outputs)."""
