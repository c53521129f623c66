"""Needs and challenges (issue 41): 供需对接 and 揭榜挂帅 (docs/needs.md)."""
