"""Browser tests share one demo server and one chromium per module."""

from tests.console.browser import browser, demo, fresh, signed

__all__ = ["browser", "demo", "fresh", "signed"]
