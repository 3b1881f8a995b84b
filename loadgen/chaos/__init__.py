"""Fault injection: `--chaos` specs, and kill/pause/restart of a local or Compose replica, logged."""
