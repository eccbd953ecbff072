"""`strata bench`: the registry of every benchmark, and the benchmarks that need the pipeline (profile loading,
whole-chain generation, concurrent generate processes)."""
