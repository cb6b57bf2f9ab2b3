"""The dengage dialect: SendTransactionalPush and SendInstantPush on their own paths.

Routes: `POST /api/transactional/push` and `POST /api/push/instant`, with
`Authorization: Bearer <Clarion API key>`; the key needs the `send` scope (the
platform's TransactionalPush.Manage permission) and its app limits apply.

Choices where the platform's documents are vague (also in docs/dialects/dengage.md):
- errors answer `{"success": false, "errorCode", "message", "field"}`; success answers
  `200 {"success": true, "messageId": <Clarion send id>, "traceId"?}`;
- contactKey is the contact's external id; without sendToAll a contact is reached on
  its most recent devices (the core's default), with sendToAll on all of them;
- contactKey and token together are refused; token needs appId;
- traceId is the idempotency key (a retry answers the first send, a different body
  with the same traceId answers 409);
- fallbackChannel, inboxParams and tags are validated and stored with the send; the
  fallback SMS and the inbox item wait on the broadcasts and inbox features;
- SendInstantPush is validated in full (template, content, scheduleDate, trackingId)
  and then refused with 422 NotSupported, because every instant push targets an
  audience (segment, table or all devices of applications) and the core does not
  plan audience sends yet; a scheduleDate in the future is refused the same way.
"""

from __future__ import annotations

from clarion.api.dialects.dengage.routes import router

__all__ = ["router"]
