"""Shared by the torch backends: device and dtype choice. Imported only by backends that need torch.

A model's dtype is chosen once, for the device it will run on (``settings.device``), and its weights are loaded in
that dtype; ``settings.load_device`` (``cpu`` under a memory snapshot) is where they sit until ``.to(device)`` moves
them, without a cast.
"""

from __future__ import annotations

import torch

from ..settings import Settings


def pick_device(settings: Settings) -> torch.device:
    if settings.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(settings.device)


def load_device(settings: Settings) -> str:
    """Where weights go when loaded: ``settings.load_device`` if set, else the device they run on."""
    return settings.load_device or str(pick_device(settings))


def half_on_gpu(device: torch.device, dtype: torch.dtype = torch.float16) -> torch.dtype:
    """Reduced precision on a GPU, float32 on the CPU (CPU kernels for half precision are slow or missing)."""
    return dtype if device.type == "cuda" else torch.float32


def run_dtype(settings: Settings, reduced: torch.dtype = torch.float16) -> torch.dtype:
    """The dtype of a model that runs on ``settings.device``: ``reduced`` on a GPU, float32 on the CPU."""
    return half_on_gpu(pick_device(settings), reduced)
