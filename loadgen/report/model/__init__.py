"""The report as data, pure: steps, capacity, USL, knees, saturation, drift, recovery, comparisons, tables."""
