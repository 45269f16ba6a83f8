"""The synthetic photo world used by the demo and the benchmarks."""
