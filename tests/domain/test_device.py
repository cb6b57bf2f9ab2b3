"""A device assembled from a row is the device the constructor makes, and as frozen."""

from __future__ import annotations

import dataclasses

import pytest

from clarion.domain.device import Device


def test_an_assembled_device_equals_the_constructed_one_and_stays_frozen() -> None:
    contact = {"external_id": "ann", "language": "fr"}
    values = {
        "platform": "ios",
        "installation_id": "phone",
        "token": "ab" * 32,
        "subscription": None,
        "language": "de",
        "timezone": "Europe/Paris",
        "tags": ["a"],
        "attributes": {"plan": "pro"},
        "contact": contact,
    }
    assembled = Device.assembled(**values)
    constructed = Device(**values)
    assert assembled == constructed and repr(assembled) == repr(constructed)
    assert dataclasses.asdict(assembled) == values
    assert assembled.contact_language == "fr"
    with pytest.raises(dataclasses.FrozenInstanceError):
        assembled.token = "other"  # type: ignore[misc]
