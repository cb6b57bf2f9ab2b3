"""Planner, dispatcher and fallback: from accepted sends to delivery jobs."""
