"""Benchmarks of privacy-oci: figures as ratios against a baseline measured
in the same run (median of several repetitions). ``.venv/bin/python -m
bench`` runs them all and writes bench/RESULTS.md."""
from sandbox import scripts_of_this_python_first_on_path

# Every benchmark runs the real ``doit``: the one beside this Python.
scripts_of_this_python_first_on_path()
