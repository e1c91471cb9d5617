"""The one shape of a form on a log's page that calls a service: a checked form, then the call,
then a status, a notice on success, or a message in the form on a refusal.

A handler keeps what is its own: checking the form, the call (an `action` that returns the
notice), and how it words a refusal. `run_form_action` does the rest the same way for all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.portal.forms import FormState
from services.portal.logg_client import LoggError

__all__ = ["FormOutcome", "FormRefusedError", "NoKey", "Refusal", "run_form_action"]


@dataclass(frozen=True)
class Refusal:
    """What the form says when the call is refused: a message on a field, and the status."""

    message: str
    status_code: int
    field: str = "_form"


class FormRefusedError(Exception):
    """Raised by an action for a refusal of its own (not logg's), worded by the handler."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


@dataclass(frozen=True)
class NoKey:
    """The error a call raises when the viewer lacks the key it needs, and what to say (409)."""

    error: type[Exception]
    message: str


@dataclass(frozen=True)
class FormOutcome:
    """How the form's answer ends: the form to show again (empty after success), the status
    and the notice on success."""

    form: FormState
    status_code: int
    notice: str | None = None


async def run_form_action(
    form: FormState,
    action: Callable[[], Awaitable[str | None]],
    *,
    refusal: Callable[[LoggError], Refusal],
    no_key: NoKey | None = None,
) -> FormOutcome:
    """A form with errors: 422, nothing called. Otherwise call `action`: 200 with its notice
    and an empty form, or the form with the refusal's message and status."""
    if not form.ok:
        return FormOutcome(form, 422)
    key_error = no_key.error if no_key is not None else _NeverRaisedError
    try:
        notice = await action()
    except FormRefusedError as refused:
        answer = refused.refusal
    except key_error:
        assert no_key is not None
        answer = Refusal(no_key.message, 409)
    except LoggError as error:
        answer = refusal(error)
    else:
        return FormOutcome(FormState(), 200, notice)
    form.errors[answer.field] = answer.message
    return FormOutcome(form, answer.status_code)


class _NeverRaisedError(Exception):
    """Stands in for the key error when a call cannot lack a key."""
