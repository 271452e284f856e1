"""bgflow: product photos in, catalogue-ready images out. The pure image pipeline lives here."""

__version__ = "0.1.0"
