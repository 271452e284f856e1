"""The one option schema: presets, styles and formats as data registries, and :class:`RunOptions`, checked before any
stage runs. CLI options, web request models and settings are derived from what is here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import InvalidOption

if TYPE_CHECKING:
    from .settings import Settings


@dataclass(frozen=True)
class Preset:
    """Where the product goes: canvas aspect (w/h; None keeps the input's) and the share of the canvas it fills.
    ``style`` forces a background style (a marketplace that wants pure white). A marketplace's preset also brings
    its default size and format, the sizes and formats its rules allow, and what becomes of a room photo."""

    name: str
    aspect: float | None
    fill: float
    description: str
    style: str | None = None
    size: int | None = None
    min_size: int | None = None
    max_size: int | None = None
    format: str | None = None
    formats: tuple[str, ...] | None = None
    on_scene: str | None = None


def marketplace_preset(rules) -> Preset:
    """The preset of a marketplace, derived from its rules (``pipeline/marketplaces/*.json`` or a user's file), so
    that what bgflow makes for it passes its check by construction."""
    from .compliance import preset_for

    p = preset_for(rules)
    what = f"{p.aspect:.4g}:1, product {p.fill:.0%}, {p.size} px {p.format}" + (", pure white 255" if p.white else "")
    return Preset(rules.marketplace, p.aspect, p.fill, f"{rules.title} ({what})", style=p.style, size=p.size,
                  min_size=p.min_size, max_size=p.max_size, format=p.format, formats=p.formats, on_scene=p.on_scene)


def register_preset(preset: Preset) -> None:
    """Add a preset for this process (a user's own rules file: ``bgflow check --rules FILE --fix``)."""
    PRESETS[preset.name] = preset


def _bundled_marketplace_presets() -> list[Preset]:
    from .compliance import load_rules, marketplaces

    return [marketplace_preset(load_rules(name)) for name in marketplaces()]


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("centered", None, 0.80, "input aspect, product at 80%"),
    Preset("marketplace", 1.0, 0.85, "square, product fills 85%, pure white 255", style="white"),
    Preset("portrait", 4 / 5, 0.78, "4:5"),
    Preset("landscape", 16 / 9, 0.78, "16:9"),
    *_bundled_marketplace_presets(),
)}
STYLES: tuple[str, ...] = ("sweep", "wall-floor", "white", "gradient", "pastel", "dark")
STYLE_CHOICES: tuple[str, ...] = (*STYLES, "auto")  # auto: the analysis picks
FORMATS: dict[str, str] = {"png": "png", "jpg": "jpg", "jpeg": "jpg", "webp": "webp"}  # accepted name -> canonical
ON_SCENE: tuple[str, ...] = ("keep", "skip", "process")
SIZE_RANGE = (64, 8192)
VARIANTS_RANGE = (1, 8)
SEED_MAX = 2**32 - 1 - VARIANTS_RANGE[1]  # seed + variant stays a valid 32-bit seed
PROMPT_MAX = 2000


def _one_of(value: str, valid, what: str) -> str:
    if value not in valid:
        raise ValueError(f"unknown {what} '{value}'; valid: {', '.join(valid)}")
    return value


class RunOptions(BaseModel):
    """What a caller may choose per job. ``None`` means "the settings' default" until :meth:`resolved`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: str | None = Field(None, description=" | ".join(PRESETS))
    style: str | None = Field(None, description=" | ".join(STYLE_CHOICES))
    size: int | None = Field(None, ge=SIZE_RANGE[0], le=SIZE_RANGE[1], strict=True,
                             description="Long side of the final image in pixels.")
    format: str | None = Field(None, description="png | jpg | webp")
    seed: int | None = Field(None, ge=0, le=SEED_MAX, strict=True, description="Seed for the generated background.")
    variants: int | None = Field(None, ge=VARIANTS_RANGE[0], le=VARIANTS_RANGE[1], strict=True,
                                 description="Background variants per photo.")
    on_scene: Literal["keep", "skip", "process"] | None = Field(
        None, description="keep (upscale only) | skip | process")
    prompt: str | None = Field(None, max_length=PROMPT_MAX, description="Background prompt (model backends).")

    @field_validator("preset")
    @classmethod
    def _preset(cls, v: str | None) -> str | None:
        return None if v is None else _one_of(v, PRESETS, "preset")

    @field_validator("style")
    @classmethod
    def _style(cls, v: str | None) -> str | None:
        return None if v is None else _one_of(v, STYLE_CHOICES, "style")

    @field_validator("format")
    @classmethod
    def _format(cls, v: str | None) -> str | None:
        return None if v is None else FORMATS[_one_of(v.lower(), FORMATS, "format")]

    @classmethod
    def parse(cls, raw: dict[str, Any] | None) -> "RunOptions":
        """Options from untrusted data; InvalidOption (a usage error) names the first bad field."""
        try:
            return cls.model_validate(raw or {})
        except ValidationError as exc:
            raise InvalidOption(describe_validation_error(exc)) from None

    def resolved(self, settings: "Settings") -> "RunOptions":
        """Every field filled where the caller left it out: from the preset (a marketplace's size, format and room
        photo policy), then from the settings. A size or format the preset's rules do not allow is refused."""
        preset = PRESETS[_one_of(self.preset or settings.preset, PRESETS, "preset")]
        opts = RunOptions.parse({
            "preset": preset.name,
            "style": self.style or settings.style,
            "size": self.size or preset.size or settings.output_size,
            "format": self.format or preset.format or settings.output_format,
            "seed": settings.seed if self.seed is None else self.seed,
            "variants": self.variants or settings.variants,
            "on_scene": self.on_scene or preset.on_scene or settings.on_scene,
            "prompt": self.prompt,
        })
        if preset.min_size and opts.size < preset.min_size or preset.max_size and opts.size > preset.max_size:
            raise InvalidOption(f"size: {opts.size} px is outside what the {preset.name} preset's rules allow "
                                f"({preset.min_size}-{preset.max_size} px on the long side).")
        if preset.formats and opts.format not in preset.formats:
            raise InvalidOption(f"format: {opts.format} is not accepted by {preset.name}; use "
                                f"{' | '.join(preset.formats)}.")
        return opts

    def style_for(self, analysed_style: str) -> str:
        """The style to draw: the preset's forced style, else the chosen one, ``auto`` meaning the analysis's."""
        forced = PRESETS[self.preset].style if self.preset else None
        return forced or (analysed_style if self.style in (None, "auto") else self.style)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


def describe_validation_error(exc: ValidationError) -> str:
    """``field: what is wrong`` for the first error, in words a user can act on."""
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ())) or "options"
    msg = first.get("msg", "invalid value").removeprefix("Value error, ")
    return f"{where}: {msg}"
