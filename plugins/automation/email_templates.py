"""The templates of a `send_email` step (workflow_email.py): Jinja2 in a sandbox (no access to
internals, no imports) — `subject` and `body` plain text, `html` escaped automatically — checked
when a definition is saved and rendered when the outbox delivers the message."""

from __future__ import annotations

import functools

from jinja2 import TemplateSyntaxError, meta
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


@functools.lru_cache(maxsize=256)
def _names(part: str, source: str) -> frozenset[str]:
    return frozenset(meta.find_undeclared_variables(environment(part).parse(source)))


def variables_named(step: dict) -> frozenset[str]:
    """The variables the step's templates use (`contact`, `record`, …), so that a delivery reads
    only those: `record` and `account` are a row each, read per message, and most templates name
    neither. Jinja2 finds them in the parsed templates (a template reaches no variable by a name
    it does not spell: the sandbox gives it no access to its context); cached per template, as a
    run's templates are the same for every recipient."""
    return frozenset().union(*(_names(part, step[part]) for part in TEMPLATES if part in step))
