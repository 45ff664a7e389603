"""Benchmarks of privacy-oci: figures as ratios against a baseline measured
in the same run (median of several repetitions). ``python3 -m bench`` runs
them all and writes bench/RESULTS.md."""
