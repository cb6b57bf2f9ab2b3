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
- fallbackChannel becomes the core's SMS fallback (its message, else the default
  content's body of its templateId, as a Liquid text; the number is the contact's
  phone, phoneNumber is only stored); inboxParams with saveToInbox stores an inbox
  item expiring at expireDate; tags are stored with the send;
- SendInstantPush is a broadcast: segmentId is a Clarion segment id, tableId a Clarion
  list id, neither means every device of applicationIds (all the key's apps when
  absent); sendOnlyLastEngagedTokens keeps each contact's most recent device; a
  future scheduleDate schedules the send; the answer is `200 {"success": true,
  "trackingId", "messageId"}` and a caller's own trackingId is its idempotency key.
"""

from __future__ import annotations

from clarion.api.dialects.dengage.routes import router

__all__ = ["router"]
