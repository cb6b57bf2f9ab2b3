"""Pure rules without I/O: the native send command and everything it is made of.

`command.parse_send_command(document, allowed_apps, now) -> SendCommand` is the whole
native command: recipients or a `broadcast.Broadcast` (audience, `Schedule`),
the `Message`, `engagement.Engagement` (inbox, SMS fallback, `throttle.ThrottleRule`)
and a dialect's `extras`; `segment_filter` is the audience filter language,
`schedule` the planning and local times of scheduled sends.

Entry points for content, in the order delivery uses them:

- `message.parse_message(data) -> Message` validates a native send's content(s)
  and options; `recipients.parse_recipients(data, platform=None) -> Recipients`
  validates its recipients. Both raise `errors.DomainError(code, message, field)`
  with codes MISSING_PARAMETER / MALFORMED_PARAMETER and paths such as
  "contents[2].language" or "recipients.tokens[3]". `message.parse_contents`
  applies the same rules to a template's per-language contents.
- `personalize.compile_contents(message.localized()) -> tuple[CompiledContent, ...]`
  compiles every Liquid template once per send (TemplateSyntaxError with line and
  column); call it at creation time to refuse bad templates early.
- `language.choose_content(contents, override, contact_language,
  installation_language)` picks the content for one recipient (from plain
  contents or from the compiled ones).
- `personalize.render_content(compiled, RenderContext(contact=..., installation=...,
  params=..., current=...))` personalizes it.
- `payloads.build_apns(content, options, topic)`, `payloads.build_fcm(content,
  options, token)`, `payloads.build_webpush(content, options)` return the exact
  provider request (headers, body bytes, size); `limits.check_size(payload)`
  raises PAYLOAD_TOO_LARGE, or `limits.fit_body(content, build)` shortens only the
  body when `options.truncate_body` asks for it.
  `payloads.build_payload(platform, content, options, target, badge_count=None,
  now=None) -> (content_sent, payload)` does both for any platform.
"""
