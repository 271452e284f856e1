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


def _load_builtins() -> None:
    from . import embedded, openai_describer  # noqa: F401  (registering is cheap: heavy imports happen on use)
