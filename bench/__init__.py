"""Side-by-side benchmarks of report-generator's worker and the Postgres queues users would pick instead.

Run ``python -m bench.run --help``; docs/benchmarks.md explains what is measured and how.
"""
