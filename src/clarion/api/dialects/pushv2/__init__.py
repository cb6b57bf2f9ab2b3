"""The pushv2 dialect: `POST /api/v2/push?format=json|xml`, one push to one user.

Choices where the platform's document is vague (also written in docs/dialects/pushv2.md):

- Credentials travel in the body: `IntegrationKey` is a Clarion API key (scope `send`
  or `admin`; a key limited to apps only reaches those apps). `CompanyId` must be an
  integer and is not otherwise checked: the key alone names the project.
- The user: the first of `UserId`, `UserEmail`, `UserExternalId` that is not empty.
  `UserId` and `UserExternalId` are both a contact's external id (Clarion knows its
  users by that id); `UserEmail` is the contact's email. Every device of the user is
  reached (the 10 most recent, as for every contact send).
- `Sound` true plays the default sound; `ExpirySecs` is the lifetime (0 or absent: the
  provider default; at most 28 days).
- The request is JSON when Content-Type says json, XML when it says xml or is absent
  (the root element may have any name but must declare the XMLSchema-instance
  namespace; `i:nil="true"` means null). Field names are matched without regard to
  case and unknown fields are ignored, as the platform's .NET serializers do. XML is
  parsed with defusedxml: DTDs and entities are refused.
- The response is in `format` (json or xml); without it, in the request's format.
  Success is 200 `{"Id": <Clarion send id>, "Status": "accepted"}`; failures carry
  `{"ResponseStatus": {"ErrorCode", "Message", "Errors": [{"ErrorCode", "FieldName",
  "Message"}]}}` (XML: the same under `<ErrorResponse>`), with 400 (validation or
  unreadable body), 401 (bad key), 403 (key may not send), 404 (unknown route under
  /api/v2/), 405 (other method on /api/v2/push), 415 (other Content-Type), 500 and
  503 (database unreachable).
"""

from __future__ import annotations

from clarion.api.dialects.pushv2.routes import router

__all__ = ["router"]
