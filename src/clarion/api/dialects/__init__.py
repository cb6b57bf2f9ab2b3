"""Translators from existing push APIs into the native send model."""
