"""How busy the machine was while a figure was timed, and whether that makes the figure contended.

A latency measured beside another busy process measures the neighbour as much as the model:
torch's OpenMP threads spin-wait on each other, so one core taken away can slow a call
10-100x (issue 17: eager resnet18 at 553 ms against 5 ms alone, with a tight spread that
looked like a good measurement). So every timed window records
- other processes' CPU time: the whole machine's busy CPU time (psutil) minus this process
  tree's, over the window's wall time, in busy cores;
- the 1-minute load average at the end (context only: it lags and counts our own threads);
- on a GPU, how many other processes hold a compute context on the device (NVML, guarded).
`classify` turns that into one flag with the threshold below. No torch here.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

from hoot.advisor.devices import usable_cores
from hoot.advisor.errors import HootError

#: Other processes' CPU use, in cores, beyond the cores the timing leaves free (cores - threads),
#: above which a row is contended. Why half a core: a quiet Linux machine's background uses a
#: few hundredths of a core, and the kernel's CPU accounting (10 ms ticks) over a timed window
#: of a second or more is good to about 0.05 core (0.15 on a --quick window); while another
#: process holds half of a core the timing's threads need, OpenMP threads wait on it and the
#: figure is mostly that wait. A process per core spinning beside the timing shows up as about
#: half the machine (the scheduler shares each core), far above it.
CONTENDED_OTHER_CORES = 0.5
#: an environment variable that moves that threshold, for a machine whose background is known and
#: accepted (hoot's own tests set it high: they run beside other jobs and must not depend on them)
THRESHOLD_ENV = "HOOT_CONTENDED_OTHER_CORES"

#: A GPU row is contended when this many other processes (or more) hold a compute context on its
#: device: their kernels queue beside ours and the GPU clock counts their time. One is enough,
#: since NVML cannot say how busy a neighbour is, only that it is there.
CONTENDED_GPU_PROCESSES = 1


@dataclass(frozen=True)
class Busy:
    """How busy the machine was during one timed window (what a row stores)."""

    other_cores: float  # other processes' CPU time / wall time of the window, in cores
    cores: int  # cores this process may use (the one core count)
    threads: int  # threads the timing ran with
    load_1min: float | None = None  # 1-minute load average at the end of the window
    gpu_other_processes: int | None = None  # other processes on the GPU (None: CPU row or no NVML)
    window_s: float = 0.0

    @property
    def other_fraction(self) -> float:
        """Other processes' CPU use as a fraction of the cores."""
        return self.other_cores / self.cores if self.cores else 0.0

    @property
    def contended(self) -> bool:
        return classify(self)

    def fields(self) -> dict[str, Any]:
        """The stored columns of a row (schema.ROW_COLUMNS)."""
        return {"busy_other_cores": round(self.other_cores, 3), "load_1min": self.load_1min,
                "gpu_other_processes": self.gpu_other_processes, "contended": self.contended}

    def describe(self) -> str:
        """'other processes used 1.0 of 2 cores, load 2.3' for a stderr line."""
        text = f"other processes used {self.other_cores:.1f} of {self.cores} cores"
        if self.load_1min is not None:
            text += f", load {self.load_1min:.1f}"
        if self.gpu_other_processes:
            text += f", {self.gpu_other_processes} other process(es) on the GPU"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "contended": self.contended}


def other_cores_threshold() -> float:
    """CONTENDED_OTHER_CORES, or the value of THRESHOLD_ENV where it is set."""
    text = os.environ.get(THRESHOLD_ENV, "").strip()
    if not text:
        return CONTENDED_OTHER_CORES
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise HootError(f"{THRESHOLD_ENV}='{text}' is not a number of cores; set it to e.g. 0.5 or unset it")
    return value


def classify(busy: Busy) -> bool:
    """Contended: other processes took CPU the timing's threads needed, or shared its GPU."""
    free = max(0, busy.cores - busy.threads)
    if busy.other_cores > free + other_cores_threshold():
        return True
    return (busy.gpu_other_processes or 0) >= CONTENDED_GPU_PROCESSES


def _machine_busy_s(psutil: Any) -> float:
    """CPU seconds the whole machine spent busy (guest time is inside user on Linux; idle and iowait are not busy)."""
    t = psutil.cpu_times()
    return sum(getattr(t, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))


def _tree_cpu_s(psutil: Any, root: Any) -> float:
    """CPU seconds of `root` and its live descendants."""
    total = 0.0
    for proc in [root, *_children(root)]:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def _children(root: Any) -> list[Any]:
    try:
        return list(root.children(recursive=True))
    except Exception:  # noqa: BLE001 - a process that just ended
        return []


def _load_1min() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):  # pragma: no cover - Windows
        return None


def gpu_other_processes(index: int, nvml: Any | None = None, own_pids: set[int] | None = None) -> int | None:
    """Other processes with a compute context on NVML device `index`; None where NVML cannot say.

    `index` is torch's CUDA index; with CUDA_VISIBLE_DEVICES of plain numbers it is mapped to
    NVML's numbering, with UUIDs or MIG names it is not (None: not known, never a guess).
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        ids = [v.strip() for v in visible.split(",") if v.strip()]
        if index >= len(ids) or not ids[index].isdigit():
            return None
        index = int(ids[index])
    own = own_pids if own_pids is not None else {os.getpid()}
    try:
        if nvml is None:
            import pynvml as nvml  # type: ignore[no-redef]
        nvml.nvmlInit()
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            procs = nvml.nvmlDeviceGetComputeRunningProcesses(handle)
            return sum(1 for p in procs if int(p.pid) not in own)
        finally:
            nvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - no NVML, no driver, a container without the PID namespace
        return None


class BusyMonitor:
    """Start it before a timed window and stop it after: what else ran meanwhile (a `Busy`).

    `threads`: the timing's thread count; `gpu_index`: the CUDA device it ran on (None on CPU).
    The readers are parameters so tests can hand in fakes (no timing-dependent tests).
    """

    def __init__(self, threads: int, gpu_index: int | None = None, *, psutil_module: Any | None = None,
                 nvml: Any | None = None, cores: int | None = None, clock: Callable[[], float] = time.monotonic,
                 load: Callable[[], float | None] = _load_1min):
        if psutil_module is None:
            import psutil as psutil_module  # type: ignore[no-redef]
        self.psutil = psutil_module
        self.threads, self.gpu_index, self.nvml = threads, gpu_index, nvml
        self.cores = cores or usable_cores()
        self.clock, self.load = clock, load
        self._root = self.psutil.Process()
        self._start: tuple[float, float, float] | None = None
        self._gpu_start: int | None = None

    def _gpu(self) -> int | None:
        if self.gpu_index is None:
            return None
        own = {self._root.pid, *(p.pid for p in _children(self._root))}
        return gpu_other_processes(self.gpu_index, self.nvml, own)

    def start(self) -> None:
        self._gpu_start = self._gpu()
        self._start = (self.clock(), _machine_busy_s(self.psutil), _tree_cpu_s(self.psutil, self._root))

    def stop(self) -> Busy:
        if self._start is None:
            raise RuntimeError("BusyMonitor.stop() before start()")
        t0, machine0, own0 = self._start
        wall = self.clock() - t0
        machine = _machine_busy_s(self.psutil) - machine0
        own = _tree_cpu_s(self.psutil, self._root) - own0
        other = max(0.0, (machine - own) / wall) if wall > 0 else 0.0
        gpu = [g for g in (self._gpu_start, self._gpu()) if g is not None]
        return Busy(other_cores=other, cores=self.cores, threads=self.threads, load_1min=self.load(),
                    gpu_other_processes=max(gpu) if gpu else None, window_s=wall)


def sample_busy(threads: int, seconds: float = 0.5, gpu_index: int | None = None,
                sleep: Callable[[float], None] = time.sleep, **monitor_args: Any) -> Busy:
    """How busy the machine is now: a window of `seconds` in which this process does nothing."""
    monitor = BusyMonitor(threads, gpu_index, **monitor_args)
    monitor.start()
    sleep(seconds)
    return monitor.stop()


@dataclass(frozen=True)
class QuietWait:
    """What `wait_for_quiet` waited for, to say on stderr."""

    waited_s: float
    first: Busy  # the machine when the wait began
    last: Busy  # the machine when it ended
    quiet: bool  # False: the time ran out and the machine was still busy

    def describe(self) -> str:
        if self.waited_s == 0 and self.quiet:
            return f"the machine is quiet ({self.last.describe()})"
        if self.quiet:
            return (f"waited {self.waited_s:.1f} s for a quiet machine ({self.first.describe()} at first; "
                    f"{self.last.other_cores:.1f} at the end)")
        return (f"the machine is still busy after {self.waited_s:.1f} s ({self.last.describe()}); timing anyway: "
                "rows taken now may be marked contended")


def wait_for_quiet(threads: int, max_wait_s: float, gpu_index: int | None = None, sample_s: float = 0.5,
                   sample: Callable[..., Busy] = sample_busy, clock: Callable[[], float] = time.monotonic) -> QuietWait:
    """Sample the machine until a sample is not contended or `max_wait_s` has passed."""
    start = clock()
    first = last = sample(threads, sample_s, gpu_index)
    while last.contended and clock() - start < max_wait_s:
        last = sample(threads, sample_s, gpu_index)
    waited = 0.0 if not first.contended else clock() - start
    return QuietWait(waited, first, last, not last.contended)
