"""Hardware fingerprint: what machine a measurement was taken on.

A latency means nothing without the machine it was measured on, so every stored row
carries a hardware id. The id covers the hardware a result depends on (CPU model,
logical cores, memory, OS/architecture, GPU models and memory) and nothing that changes
between runs, so it is stable per machine and identical machines share results. Driver,
torch, torchvision and CUDA versions are recorded beside each measurement as software,
not hashed into the id. No torch import here (the advisor calls this cheaply); GPUs come
from NVML (pynvml), and no NVML or no GPU simply means a CPU-only machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
from functools import lru_cache
from typing import Any


def _cpu_model() -> str:
    """The CPU's marketing name: /proc/cpuinfo on Linux, platform's answer elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware", "cpu model") and value.strip():
                    return " ".join(value.split())
    except OSError:
        pass
    if platform.system() == "Darwin":  # pragma: no cover - not on CI
        import subprocess

        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=5)
            if out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _memory_bytes() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except Exception:  # noqa: BLE001 - psutil missing or unsupported platform
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            return None


def _physical_cores() -> int | None:
    try:
        import psutil

        return psutil.cpu_count(logical=False)
    except Exception:  # noqa: BLE001
        return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def nvml_gpus(nvml: Any | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """GPUs as NVML sees them, and the driver version; ([], None) without NVML or a GPU.

    `nvml` is the pynvml module (injectable so tests can pass a fake).
    """
    if nvml is None:
        try:
            import pynvml as nvml  # nvidia-ml-py
        except ImportError:
            return [], None
    try:
        nvml.nvmlInit()
    except Exception:  # noqa: BLE001 - NVMLError_LibraryNotFound, DriverNotLoaded...: a CPU-only machine
        return [], None
    gpus: list[dict[str, Any]] = []
    driver: str | None = None
    try:
        try:
            driver = _text(nvml.nvmlSystemGetDriverVersion())
        except Exception:  # noqa: BLE001
            driver = None
        for index in range(int(nvml.nvmlDeviceGetCount())):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            gpu: dict[str, Any] = {"index": index, "name": _text(nvml.nvmlDeviceGetName(handle))}
            try:
                gpu["memory_mb"] = round(int(nvml.nvmlDeviceGetMemoryInfo(handle).total) / 2**20)
            except Exception:  # noqa: BLE001
                gpu["memory_mb"] = None
            try:
                major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
                gpu["compute_capability"] = f"{major}.{minor}"
            except Exception:  # noqa: BLE001
                gpu["compute_capability"] = None
            gpus.append(gpu)
    except Exception:  # noqa: BLE001 - a half-working NVML: report what was read
        pass
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass
    return gpus, driver


def collect_hardware(nvml: Any | None = None) -> dict[str, Any]:
    """The machine's description (no software versions): the fields the id is made of, plus driver."""
    gpus, driver = nvml_gpus(nvml)
    mem = _memory_bytes()
    info: dict[str, Any] = {
        "cpu_model": _cpu_model(),
        "cpu_cores": os.cpu_count() or 1,
        "cpu_physical_cores": _physical_cores(),
        "memory_gb": None if mem is None else round(mem / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
        "gpu_count": len(gpus),
        "gpu_name": gpus[0]["name"] if gpus else None,
        "gpu_memory_mb": gpus[0].get("memory_mb") if gpus else None,
        "gpu_compute_capability": gpus[0].get("compute_capability") if gpus else None,
        "gpu_driver": driver,
        "gpus": gpus,
    }
    info["hardware_id"] = hardware_id_for(info)
    return info


def _slug(text: str) -> str:
    text = re.sub(r"\((r|tm|c)\)", "", text.lower())
    text = re.sub(r"\b(cpu|processor|@.*)$", "", text)
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:40].strip("-")


def hardware_id_for(info: dict[str, Any]) -> str:
    """A readable, stable id: '<gpu or cpu slug>-<8 hex of the identity fields>'.

    Identity = CPU model, logical cores, memory (GiB, rounded), OS family, architecture,
    and each GPU's name and memory. Driver and library versions are not part of it.
    """
    memory = info.get("memory_gb")
    identity = {
        "cpu_model": info.get("cpu_model"),
        "cpu_cores": info.get("cpu_cores"),
        "memory_gib": None if memory is None else round(float(memory)),
        "os": str(info.get("os", "")).split(" ")[0],
        "arch": info.get("arch"),
        "gpus": [(g.get("name"), g.get("memory_mb")) for g in info.get("gpus") or []],
    }
    digest = hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]
    label = info.get("gpu_name") or info.get("cpu_model") or "machine"
    return f"{_slug(str(label)) or 'machine'}-{digest}"


@lru_cache(maxsize=1)
def this_machine() -> dict[str, Any]:
    """This machine's description, computed once per process."""
    return collect_hardware()


def current_hardware_id() -> str:
    """This machine's hardware id (cheap: no torch import; stable per machine)."""
    return this_machine()["hardware_id"]
