"""The scaled topology: N WhisperLive replicas behind nginx, with Prometheus, locally or in Compose.

`stack.render` turns the single sources in `nginx/` and `prometheus/` into each target's config (pure);
`stack.local` runs the local stack as tracked child processes; `python -m stack` is its command line.
"""
