"""The templates of a `send_email` step (workflow_email.py): Jinja2 in a sandbox (no access to
internals, no imports) — `subject` and `body` plain text, `html` escaped automatically — checked
when a definition is saved and rendered when the outbox delivers the message."""

from __future__ import annotations

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from enishi.plugin import UserError

RECIPIENTS = ("contact", "account_contacts")  # a step's `to`
TEMPLATES = ("subject", "body", "html")

PLAIN = ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
HTML = ImmutableSandboxedEnvironment(autoescape=True, keep_trailing_newline=True)


def environment(part: str) -> ImmutableSandboxedEnvironment:
    return HTML if part == "html" else PLAIN


def template_errors(step: dict, at: str) -> list[UserError]:
    """A userError per template of the step that does not compile, at the step's JSON path `at`."""
    errors = []
    for part in TEMPLATES:
        if part in step:
            try:
                environment(part).parse(step[part])
            except TemplateSyntaxError as error:
                message = f"is no template (line {error.lineno}: {error.message})"
                errors.append(UserError(f"{at}.{part}", message[:300], "INVALID_TEMPLATE"))
    return errors


def render(step: dict, variables: dict) -> tuple[str, str, str | None]:
    """(subject on one line, body, html or None); raises jinja2's TemplateError."""
    subject = " ".join(PLAIN.from_string(step["subject"]).render(variables).split())
    html = HTML.from_string(step["html"]).render(variables) if "html" in step else None
    return subject, PLAIN.from_string(step["body"]).render(variables), html
