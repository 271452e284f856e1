"""Backend registries: a name maps to a factory; ``new_backend(family, name)`` builds one, unknown names list the
valid ones. Model backends register here too and fail with a clear error when their weights are missing."""

from __future__ import annotations

from typing import Any, Callable

from ..errors import UnknownBackend
from ..settings import Settings

Factory = Callable[[Settings], Any]
FAMILIES = ("segmenter", "background", "upscaler", "describer", "orienter")
_REGISTRY: dict[str, dict[str, Factory]] = {family: {} for family in FAMILIES}


def register(family: str, name: str) -> Callable[[Factory], Factory]:
    def deco(factory: Factory) -> Factory:
        _REGISTRY[family][name] = factory
        return factory

    return deco


def available(family: str) -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY[family])


def new_backend(family: str, name: str, settings: Settings) -> Any:
    """Build the backend ``name`` of ``family`` (e.g. ``new_backend("segmenter", "classical", settings)``)."""
    _load_builtins()
    if family not in _REGISTRY:
        raise UnknownBackend(f"Unknown backend family '{family}'. Valid families: {', '.join(FAMILIES)}.")
    try:
        factory = _REGISTRY[family][name]
    except KeyError:
        raise UnknownBackend(
            f"Unknown {family} '{name}'. Valid {family}s: {', '.join(available(family))}."
        ) from None
    return factory(settings)


# Model backends live in modules that import torch; they are registered by name and imported only when built.
_LAZY = {("upscaler", "realesrgan"): "realesrgan", ("background", "flux-fill"): "flux_fill",
         ("segmenter", "sam2"): "sam2", ("segmenter", "auto"): "sam2", ("orienter", "orient-anything"): "orient_anything"}


def _load_builtins() -> None:
    from . import embedded, openai_describer  # noqa: F401  (registering is cheap: heavy imports happen on use)

    for (family, name), module in _LAZY.items():
        if name not in _REGISTRY[family]:
            _REGISTRY[family][name] = _lazy_factory(module, family, name)


def _lazy_factory(module: str, family: str, name: str) -> Factory:
    def build(settings: Settings) -> Any:
        import importlib

        try:
            importlib.import_module(f"{__name__}.{module}")
        except ImportError as exc:
            from ..errors import BackendUnavailable

            raise BackendUnavailable(
                f"The {family} backend '{name}' needs the ML packages ({exc.name} is missing): "
                "pip install 'bgflow[ml]'."
            ) from None
        return _REGISTRY[family][name](settings)

    return build
