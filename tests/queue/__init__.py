"""Tests of the durable job queue and the worker loop."""
