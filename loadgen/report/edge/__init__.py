"""The report's I/O edge: reading a run directory and Prometheus, writing summary.json and the reports."""
