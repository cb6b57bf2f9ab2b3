"""The batch dialect: `POST /1.1/{app_api_key}/transactional/send` translated to a native send.

Choices where the platform's document is vague (also written in docs/dialects/batch.md):

- Auth: `X-Authorization` carries a Clarion API key (scope `send` or `admin`) of the
  project; `{app_api_key}` is the Clarion app id. A missing or unknown key, or an app
  of another project, is AUTHENTICATION_INVALID (401); a key without the scope or
  limited to other apps is API_MISUSE (403).
- Error body: `{"code": <number>, "name": "<NAME>", "message": "...", "field": "..."}`
  with the documented status; `field` names the batch field at fault.
- Unknown parameters are refused (MALFORMED_PARAMETER) rather than ignored, so a
  typo never sends something else than asked.
- `labels` and `messages` with `tokens` recipients are refused, as documented.
- `custom_payload` keys the platform reserves (`com.batch`, and those Clarion or FCM
  reserve) are dropped, not refused, as documented.
- `gcm_collapse_key` becomes the send's collapse key (FCM collapse_key, and APNs
  collapse id / Web Push topic on the app's other platforms); `{"enabled": false}`
  sends without one; a missing `key` means "default".
- `wp_template` is validated (legacy or generic) and has no effect: Clarion has no
  Windows transport.
- The token answered is the Clarion send id, usable with GET /v1/sends/{id}.
"""

from __future__ import annotations

from clarion.api.dialects.batch.routes import router

__all__ = ["router"]
