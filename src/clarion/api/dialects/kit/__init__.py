"""The dialect kit: what every dialect shares, so that a dialect is a translator and a shape.

A dialect declares a `Dialect` (its name, its `ErrorShape`, the `Wording` of the
failures the kit detects, and how core errors read in its terms), builds its router
with `dialect_router`, and its endpoints raise `Problem`s. The kit answers problems,
core errors, database outages and crashes in the dialect's shape (`DialectRoute`),
authorizes the key (`authorize`), reads JSON objects (`json_object`), renames native
fields (`rename_field`) and answers unknown routes (`add_catch_all`). The core's
services come from `kit.native`. No dialect imports store/ or another dialect.
"""

from __future__ import annotations

from clarion.api.dialects.kit.access import Caller, authorize, owns_app
from clarion.api.dialects.kit.body import json_object, parse_model, read_json_object, rename_field
from clarion.api.dialects.kit.problems import (
    Dialect,
    ErrorShape,
    Kind,
    Problem,
    Wording,
    answer,
    kind_of,
)
from clarion.api.dialects.kit.route import DialectRoute, add_catch_all, dialect_router

__all__ = [
    "Caller",
    "Dialect",
    "DialectRoute",
    "ErrorShape",
    "Kind",
    "Problem",
    "Wording",
    "add_catch_all",
    "answer",
    "authorize",
    "dialect_router",
    "json_object",
    "kind_of",
    "owns_app",
    "parse_model",
    "read_json_object",
    "rename_field",
]
