"""The push providers Clarion builds payloads for, under their former name."""

from __future__ import annotations

from clarion.domain.vocabulary import Provider

#: What used to be called the platform of a payload is its provider (apns, fcm, webpush);
#: installations have platforms of their own (`DevicePlatform`).
Platform = Provider
