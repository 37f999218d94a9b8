"""Peak memory of one phase (a timed inference or training loop).

CUDA: the caching allocator's peak counters, reset before the phase, so the figure is
the phase's own high-water mark (weights already resident included). CPU: the child
process's peak resident set over the baseline taken before the model was built; Linux
lets a process reset its high-water mark (`/proc/self/clear_refs` = 5), so each phase
gets its own peak without a sampling thread that would disturb the timing.
"""

from __future__ import annotations

import os
import resource
import sys
from dataclasses import dataclass
from typing import Any

MB = 2**20


def current_rss_bytes() -> int:
    """Resident set size now."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        import psutil

        return int(psutil.Process().memory_info().rss)


def _vm_hwm_bytes() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def _maxrss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


class CPUPeak:
    """Peak RSS of this process over a baseline, per phase."""

    def __init__(self) -> None:
        self.baseline = current_rss_bytes()
        self.resettable = False

    def reset(self) -> None:
        """Start a phase: the high-water mark restarts from the current RSS where the OS allows it."""
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
                fh.write("5")
            self.resettable = True
        except OSError:
            self.resettable = False

    def peak_mb(self) -> float:
        """Peak RSS since the last reset (or since start, where it cannot be reset), over the baseline."""
        peak = _vm_hwm_bytes() if self.resettable else None
        if peak is None:
            peak = _maxrss_bytes()
        return max(0.0, (peak - self.baseline) / MB)


@dataclass
class CUDAPeak:
    """The CUDA caching allocator's peak allocated and reserved bytes for a phase."""

    torch: Any
    device: Any

    def reset(self) -> None:
        self.torch.cuda.synchronize(self.device)
        self.torch.cuda.reset_peak_memory_stats(self.device)

    def peaks_mb(self) -> tuple[float, float]:
        """(peak allocated, peak reserved) in MiB since the last reset."""
        self.torch.cuda.synchronize(self.device)
        return (self.torch.cuda.max_memory_allocated(self.device) / MB,
                self.torch.cuda.max_memory_reserved(self.device) / MB)
