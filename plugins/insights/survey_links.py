"""The survey link's page (`GET /insights/surveys/{token}`) and its answer (`POST`, the page's form
or JSON), built on the kit's survey pages: no JavaScript, nothing loaded from elsewhere, ja/en."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from enishi.plugin import InputError, survey_answer_response, survey_form, survey_refusal

from . import surveys

# What the page says under the choices: the scale's ends, in both languages.
HINTS = {
    "nps": "0 = まったく思わない / not at all likely, 10 = 非常にそう思う / extremely likely",
    "csat": "1 = 非常に不満 / very dissatisfied, 5 = 非常に満足 / very satisfied",
    "ces": "1 = 非常に簡単 / very easy, 7 = 非常に大変 / very difficult",
}


async def survey_page(request: Request):
    """Opening the link answers nothing (mail scanners open links): it shows the question."""
    runtime = request.app.state.runtime
    try:
        async with runtime.read_session() as session:
            survey = await surveys.open_link(session, request.path_params["token"], runtime.clock.now())
    except InputError as refused:
        return survey_refusal(refused.errors[0].code)
    return survey_form([survey.question_ja, survey.question_en], surveys.SCALES[survey.kind], hint=HINTS[survey.kind])


async def survey_answer(request: Request):
    """{"score": n, "comment": "…"} as JSON, or the page's form."""

    async def submit(score: int, comment: str | None):
        async with request.app.state.runtime.unit_of_work() as uow:
            await surveys.answer_survey(uow, request.path_params["token"], score, comment)

    return await survey_answer_response(request, submit)


ROUTES = [
    Route("/insights/surveys/{token}", survey_page, methods=["GET"]),
    Route("/insights/surveys/{token}", survey_answer, methods=["POST"]),
]
