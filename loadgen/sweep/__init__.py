"""`loadgen sweep`: restart a deployment with each configuration's settings and ramp it (docs/SWEEP.md)."""
