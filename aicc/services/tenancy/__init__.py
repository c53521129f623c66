"""Tenancy: organizations, projects, people, tokens, sign-in, secrets and the audit log."""
