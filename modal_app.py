"""bgflow on Modal. Deploy with ``modal deploy modal_app.py`` (see README, "Deploy to Modal").

Importing this module declares everything and calls nothing: it works offline and without a Modal token.
"""

from functions import cpu, gpu, orchestrate, triggers, web  # noqa: F401  (every function and class registers on the app)
from functions.gpu import download_models
from functions.infra import app

__all__ = ["app", "download_models"]  # module level, so `modal run modal_app.py::download_models` resolves
