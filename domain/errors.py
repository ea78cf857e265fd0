"""Business-rule violations the domain raises; the API maps each kind to an HTTP status."""


class DomainError(Exception):
    """A command was refused by a business rule."""


class InsufficientCredits(DomainError):
    """The balance does not cover what a command would spend (402)."""


class Conflict(DomainError):
    """The aggregate's current state forbids the command (409)."""


class Invalid(DomainError):
    """The command's values break a rule of the domain (422)."""


class NotFound(DomainError):
    """No such thing, or it belongs to someone else (404)."""
