"""Stage inputs and outputs as they cross between containers: PNG bytes plus small JSON, never pickled objects.

Each ``*_to_wire`` returns a dict of JSON values and images; each ``*_from_wire`` rebuilds the frozen dataclass.
Mattes travel as 16-bit PNG so soft edges keep their precision.

An image on the wire is either its PNG bytes or, when a :class:`Blobs` store is shared by both sides (the runs Volume
on Modal), ``{"ref": key}``: stored once, referenced afterwards. A :class:`Codec` remembers what it has sent and
received, so an image that crosses again (the normalized image goes to four stages, the matte to two) is neither
re-encoded nor re-sent.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import OrderedDict
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Protocol

import cv2
import numpy as np

from .backdrop import BackdropModel
from .segment import Coarse
from .types import (Analysis, BackgroundInfo, Matte, Normalized, Orientation, PaletteColor, Placement, Result,
                    Scene)

Wire = dict[str, Any]


def _png(arr: np.ndarray) -> bytes:
    img = arr[:, :, ::-1] if arr.ndim == 3 else arr
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def _unpng(data: bytes) -> np.ndarray:
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ValueError("not a PNG")
    return np.ascontiguousarray(arr[:, :, ::-1]) if arr.ndim == 3 else arr


def _alpha_png(alpha: np.ndarray) -> bytes:
    return _png(np.clip(alpha * 65535.0 + 0.5, 0, 65535).astype(np.uint16))


def _alpha_unpng(data: bytes) -> np.ndarray:
    return _unpng(data).astype(np.float32) / 65535.0


def _mask_png(mask: np.ndarray) -> bytes:
    return _png(mask.astype(np.uint8) * 255)


def _mask_unpng(data: bytes) -> np.ndarray:
    return _unpng(data) > 127


class Blobs(Protocol):
    name: str  # the namespace both sides open

    def put(self, data: bytes) -> str: ...

    def get(self, key: str) -> bytes: ...

    def flush(self) -> None: ...


KEY = re.compile(r"^[0-9a-f]{40}\.png$")
NAME = re.compile(r"^[0-9a-f]{8,64}$")


class FolderBlobs:
    """PNG files in ``root/name``, named by their SHA-1: written once, read by key. ``flush`` runs ``after_put`` when
    new files were written since the last flush (commit a Volume); ``before_miss`` runs before reading a file not
    there yet (reload a Volume). ``name`` is one job's namespace, removed with :meth:`remove` when the job is done."""

    def __init__(self, root: str | Path, name: str, *, after_put: Callable[[], None] | None = None,
                 before_miss: Callable[[], None] | None = None):
        if not NAME.match(name):
            raise ValueError(f"not a blob namespace: {name[:70]!r}")
        self.name, self.folder = name, Path(root) / name
        self.after_put, self.before_miss = after_put, before_miss
        self._dirty = False

    def _path(self, key: str) -> Path:
        if not KEY.match(key):
            raise ValueError(f"not a blob key: {key[:60]!r}")
        return self.folder / key

    def put(self, data: bytes) -> str:
        key = hashlib.sha1(data).hexdigest() + ".png"
        path = self._path(key)
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{key}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
            self._dirty = True
        return key

    def get(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file() and self.before_miss:
            self.before_miss()
        return path.read_bytes()

    def flush(self) -> None:
        if self._dirty and self.after_put:
            self.after_put()
        self._dirty = False

    def remove(self) -> None:
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)
        self._dirty = True
        self.flush()


class Codec:
    """Turns arrays into wire images and back, through a Blobs store when given. What it sent or received is
    remembered by array identity (up to ``max_bytes`` of arrays; 0 remembers nothing), so the same array crosses as
    the same value without another encoding; arrays handed to stages are treated as immutable."""

    def __init__(self, blobs: Blobs | None = None, max_bytes: int = 256 * 1024 * 1024):
        self.blobs, self.max_bytes = blobs, max_bytes
        self._known: OrderedDict[int, tuple[np.ndarray, Any]] = OrderedDict()
        self._bytes = 0
        self.encoded = 0  # PNG encodings made, for the bench

    def _remember(self, arr: np.ndarray, value: Any) -> None:
        if self.max_bytes <= 0:
            return
        self._known[id(arr)] = (arr, value)
        self._bytes += arr.nbytes
        while self._bytes > self.max_bytes and len(self._known) > 1:
            _, (old, _) = self._known.popitem(last=False)
            self._bytes -= old.nbytes

    def image(self, arr: np.ndarray, encode: Callable[[np.ndarray], bytes] = _png) -> Any:
        hit = self._known.get(id(arr))
        if hit is not None and hit[0] is arr:
            return hit[1]
        data = encode(arr)
        self.encoded += 1
        value = {"ref": self.blobs.put(data)} if self.blobs is not None else data
        self._remember(arr, value)
        return value

    def array(self, value: Any, decode: Callable[[bytes], np.ndarray] = _unpng) -> np.ndarray:
        if isinstance(value, dict):
            if self.blobs is None:
                raise ValueError("an image reference arrived where no blob store is configured")
            data = self.blobs.get(str(value.get("ref", "")))
        else:
            data = value
        arr = decode(data)
        self._remember(arr, value)
        return arr


def _codec(codec: Codec | None) -> Codec:
    return codec if codec is not None else Codec()


def normalized_to_wire(n: Normalized, codec: Codec | None = None) -> Wire:
    c = _codec(codec)
    return {"image": c.image(n.image), "alpha_prior": None if n.alpha_prior is None else c.image(n.alpha_prior),
            "background": asdict(n.background), "source_format": n.source_format,
            "original_size": list(n.original_size), "notes": list(n.notes)}


def normalized_from_wire(w: Wire, codec: Codec | None = None) -> Normalized:
    c = _codec(codec)
    bg = w["background"]
    return Normalized(image=c.array(w["image"]),
                      alpha_prior=None if w["alpha_prior"] is None else c.array(w["alpha_prior"]),
                      background=BackgroundInfo(kind=bg["kind"], color=tuple(bg["color"]), confidence=bg["confidence"],
                                                features=bg["features"]),
                      source_format=w["source_format"], original_size=tuple(w["original_size"]), notes=tuple(w["notes"]))


def coarse_to_wire(co: Coarse, codec: Codec | None = None) -> Wire:
    c = _codec(codec)
    return {"mask": c.image(co.mask, _mask_png), "image": c.image(co.image), "scale": co.scale,
            "model": None if co.model is None else {"coeffs": co.model.coeffs.tolist(), "noise": co.model.noise},
            "removed": list(co.removed), "holes": c.image(co.holes, _mask_png),
            "shading": None if co.shading is None else c.image(co.shading, _shading_png),
            "faces": None if co.faces is None else c.image(co.faces, _mask_png)}


def _shading_png(shading: np.ndarray) -> bytes:
    """L offsets (-100..100) as 16-bit steps of 1/300."""
    return _png(np.clip((shading + 100.0) * 300.0 + 0.5, 0, 65535).astype(np.uint16))


def _shading_unpng(data: bytes) -> np.ndarray:
    return _unpng(data).astype(np.float32) / 300.0 - 100.0


def coarse_from_wire(w: Wire, codec: Codec | None = None) -> Coarse:
    c = _codec(codec)
    model = None if w["model"] is None else BackdropModel(coeffs=np.asarray(w["model"]["coeffs"]),
                                                         noise=w["model"]["noise"])
    return Coarse(mask=c.array(w["mask"], _mask_unpng), image=c.array(w["image"]), scale=w["scale"], model=model,
                  removed=tuple(w["removed"]), holes=c.array(w["holes"], _mask_unpng),
                  shading=None if w.get("shading") is None else c.array(w["shading"], _shading_unpng),
                  faces=None if w.get("faces") is None else c.array(w["faces"], _mask_unpng))


def analysis_to_wire(a: Analysis) -> Wire:
    d = asdict(a)
    d["bbox"] = list(a.bbox)
    return d


def analysis_from_wire(w: Wire) -> Analysis:
    d = dict(w)
    d["palette"] = [PaletteColor(name=c["name"], rgb=tuple(c["rgb"]), fraction=c["fraction"]) for c in d["palette"]]
    d["bbox"] = tuple(d["bbox"])
    return Analysis(**d)


def orientation_to_wire(o: Orientation) -> Wire:
    return o.to_dict()


def orientation_from_wire(w: Wire) -> Orientation:
    return Orientation(**w)


def matte_to_wire(m: Matte, codec: Codec | None = None) -> Wire:
    c = _codec(codec)
    return {"alpha": c.image(m.alpha, _alpha_png), "foreground": c.image(m.foreground), "bbox": list(m.bbox),
            "removed": list(m.removed), "backend": m.backend}


def matte_from_wire(w: Wire, codec: Codec | None = None) -> Matte:
    c = _codec(codec)
    return Matte(alpha=c.array(w["alpha"], _alpha_unpng), foreground=c.array(w["foreground"]), bbox=tuple(w["bbox"]),
                 removed=tuple(w["removed"]), backend=w["backend"])


def _placement(p: dict) -> Placement:
    return Placement(scale=p["scale"], offset=tuple(p["offset"]))


def scene_to_wire(s: Scene, codec: Codec | None = None) -> Wire:
    return {"background": _codec(codec).image(s.background), "canvas_size": list(s.canvas_size),
            "placement": s.placement.to_dict(), "style": s.style, "preset": s.preset, "seed": s.seed,
            "backend": s.backend, "info": s.info}


def scene_from_wire(w: Wire, codec: Codec | None = None) -> Scene:
    return Scene(background=_codec(codec).array(w["background"]), canvas_size=tuple(w["canvas_size"]),
                 placement=_placement(w["placement"]), style=w["style"], preset=w["preset"], seed=w["seed"],
                 backend=w["backend"], info=w["info"])


def result_to_wire(r: Result, codec: Codec | None = None) -> Wire:
    return {"image": _codec(codec).image(r.image), "placement": r.placement.to_dict(), "fidelity": r.fidelity,
            "backend": r.backend}


def result_from_wire(w: Wire, codec: Codec | None = None) -> Result:
    return Result(image=_codec(codec).array(w["image"]), placement=_placement(w["placement"]), fidelity=w["fidelity"],
                  backend=w["backend"])
