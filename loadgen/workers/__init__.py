"""`--workers K`: spawned worker processes, the pool that drives them as one `Driver`, their merged
session files and their summed metrics."""
