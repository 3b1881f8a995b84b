"""The load generator's own Prometheus instruments, its event-loop monitor and the event loop choice."""
