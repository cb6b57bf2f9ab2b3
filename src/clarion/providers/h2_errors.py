"""Errors raised by the HTTP/2 client transport."""

from __future__ import annotations


class Http2Error(Exception):
    """Base for failures of the HTTP/2 transport below the HTTP response."""


class StreamRefusedError(Http2Error):
    """The server never processed the stream (GOAWAY above it or REFUSED_STREAM): safe to resend."""


class StreamResetError(Http2Error):
    """The server reset the stream after it may have processed it."""

    def __init__(self, error_code: int) -> None:
        super().__init__(f"stream reset by peer (error code {error_code})")
        self.error_code = error_code


class ConnectionLostError(Http2Error):
    """The connection closed while the request was in flight."""


class ProtocolNegotiationError(Http2Error):
    """The TLS handshake did not select HTTP/2 through ALPN."""


class InvalidRequestError(Http2Error):
    """The request itself breaks HTTP/2 header rules; resending it cannot help."""


class QueueTimeoutError(Http2Error):
    """No stream became free (and no connection could be opened) within the queue timeout."""
