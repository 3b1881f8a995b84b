"""One process that exports GPU, container, process and nginx metrics for Prometheus (`python -m exporters`).

Each source is polled in the background into a snapshot; a scrape only formats the latest snapshots.
"""
