"""The reports a center is judged by: the month's read model (`monthly`), its CSV (`export`)
and its PDF (`pdf`). docs/reports.md."""
