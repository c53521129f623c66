"""The Python SDK: `aicc.Client` (`client`), a `Transport` with one module per resource, which
parses the API's answers into the contexts' read models (`aicc.services.<ctx>.views`);
`metrics.log_metrics` for jobs (standard library only)."""
