"""hoot's profiler: model building, timing, FLOPs, memory, hardware fingerprint, results store.

`bench.store` is plain sqlite3 (no torch), so the advisor can read measurements cheaply.
"""
