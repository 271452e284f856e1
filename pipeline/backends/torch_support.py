"""Shared by the torch backends: device and dtype choice. Imported only by backends that need torch."""

from __future__ import annotations

import torch

from ..settings import Settings


def pick_device(settings: Settings) -> torch.device:
    if settings.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(settings.device)


def half_on_gpu(device: torch.device, dtype: torch.dtype = torch.float16) -> torch.dtype:
    """Reduced precision on a GPU, float32 on the CPU (CPU kernels for half precision are slow or missing)."""
    return dtype if device.type == "cuda" else torch.float32
