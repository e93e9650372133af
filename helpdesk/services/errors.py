"""Typed errors raised by services; adapters turn them into JSON or error frames."""


class ServiceError(Exception):
    code = "error"
    http_status = 400

    def __init__(self, message: str = "", *, code: str | None = None):
        super().__init__(message or self.code)
        self.message = message or self.code
        if code:
            self.code = code


class NotFound(ServiceError):
    code = "not_found"
    http_status = 404


class NotAllowed(ServiceError):
    code = "not_allowed"
    http_status = 403


class InvalidInput(ServiceError):
    code = "invalid"
    http_status = 400


class Conflict(ServiceError):
    """The state changed under the caller (offer already taken, contact ended...)."""

    code = "conflict"
    http_status = 409


class RateLimited(ServiceError):
    code = "rate_limited"
    http_status = 429
