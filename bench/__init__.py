"""`make bench`: throughput and latency of the API next to the raw-driver floor, same run."""
