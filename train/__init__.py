"""Training toolkit: benchmarks, labelling by execution, ranker training and evaluation."""
