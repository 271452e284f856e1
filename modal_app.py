"""bgflow on Modal. Deploy with ``modal deploy modal_app.py`` (see README, "Deploy to Modal").

Importing this module declares everything and calls nothing: it works offline and without a Modal token.
"""

from functions import cpu, gpu, orchestrate, triggers, web  # noqa: F401  (every function and class registers on the app)
from functions.gpu import download_models
from functions.infra import app
from functions.triggers import shopify_backfill

# Module level, so `modal run modal_app.py::download_models` (and ::shopify_backfill) resolve.
__all__ = ["app", "download_models", "shopify_backfill"]
