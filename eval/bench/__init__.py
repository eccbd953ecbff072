"""Benchmarks that need only eval, stages and data_prep; `strata bench` runs them through pipeline.bench.registry."""
