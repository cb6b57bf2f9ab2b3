"""The sfmc dialect: push message definitions and their sends under /push/v1.

Routes: `POST /push/v1/message`, `GET|PATCH|PUT|DELETE /push/v1/message/{id}`,
`POST /push/v1/messageContact/{id}/send`, `messageBatch`, `messageList`,
`messageTag`, with `Authorization: Bearer <Clarion API key>` (scope `send`;
reading a definition needs `read`). `application.id` is the Clarion app id.

Choices where the document is vague (also in docs/dialects/sfmc.md):
- validation errors answer `400 {"errors": [...]}` with every problem found; auth
  failures `401/403 {"message", "errorcode": 0, "documentation"}`; an unknown
  definition answers 404 on the definition routes and 400 on the send routes;
- `startDate` is required (the per-type lists say so); fields a type does not use
  (geofences outside location messages, pageId/url/subject/endDate outside page
  messages) are accepted and dropped from the stored definition, as the example shows;
- sends answer `202 {"tokenId": <Clarion send id>}`; `override`/`messageText`
  follow the documented error messages; `sendTime` is read in the definition's
  scheduledTzOffset (default UTC-6);
- messageList sends target one Clarion list (inclusionListIds, else the
  definition's inclusionLists) and messageTag sends the devices with any of
  inclusionTags and none of exclusionTags; both leave out the definition's
  exclusionLists and the body's exclusionListIds, and may be scheduled (a future
  sendTime, or with tzBased the wall-clock time in each device's zone, with
  tzPastSendAction 1/0 send now, 2 next day, 3 never);
- messagesPerPeriod/minutesPerPeriod throttle every send of the definition; inbox
  definitions store inbox items (inbox-only ones push nothing);
- messageContact/messageBatch sends with a future sendTime are scheduled for that
  instant (native schedule.at); tzBased does not apply to explicit recipients.
"""

from __future__ import annotations

from clarion.api.dialects.sfmc.routes import router

__all__ = ["router"]
