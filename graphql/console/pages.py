"""The console's pages. Each reads and writes through one GraphQL operation of documents.py, run
as the signed-in user; a refusal of the API (FORBIDDEN, a bad id) is the page's refusal too."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from enishi.graphql.as_viewer import execute_as
from enishi.graphql.schema import present_result

from . import documents, values
from .app import COOKIE_PATH, SECURITY_HEADERS, Console
from .sessions import Staff

ERROR_STATUS = {"FORBIDDEN": 403, "UNAUTHENTICATED": 401, "NOT_FOUND": 404, "INTERNAL": 500}


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class Pages:
    def __init__(self, console: Console) -> None:
        self.console = console
        console.templates.globals.update(
            status_labels=values.STATUS_LABELS,
            type_labels=values.TYPE_LABELS,
            regime_labels=values.REGIME_LABELS,
            channel_labels=values.CHANNEL_LABELS,
            run_labels=values.RUN_LABELS,
            note_label=values.note_label,
            access_action_labels=values.ACCESS_ACTION_LABELS,
            role_labels=values.ROLE_LABELS,
            access_purpose_label=values.access_purpose_label,
            retention_entity_labels=values.RETENTION_ENTITY_LABELS,
            retention_action_labels=values.RETENTION_ACTION_LABELS,
            incident_status_labels=values.INCIDENT_STATUS_LABELS,
            report_kind_labels=values.REPORT_KIND_LABELS,
            appi_trigger_labels=values.APPI_TRIGGER_LABELS,
            recipient_kind_labels=values.RECIPIENT_KIND_LABELS,
            transfer_route_labels=values.TRANSFER_ROUTE_LABELS,
        )

    def routes(self) -> list[Route]:
        page = self.console.page
        return [
            Route("/requests", page(self._guard(self.queue))),
            # Global ids are standard base64 (a `/` may occur): they travel as parameters, not in paths.
            Route("/request", page(self._guard(self.request_page))),
            Route("/request/{action}", page(self._guard(self.request_action)), methods=["POST"]),
            Route("/holds", page(self._guard(self.holds))),
            Route("/holds/place", page(self._guard(self.place_hold)), methods=["POST"]),
            Route("/holds/release", page(self._guard(self.release_hold)), methods=["POST"]),
            Route("/consent", page(self._guard(self.consent))),
            Route("/consent/withdraw", page(self._guard(self.withdraw)), methods=["POST"]),
            Route("/access-log", page(self._guard(self.access_log))),
            Route("/overview", page(self._guard(self.overview))),
            Route("/overview/retention-rule", page(self._guard(self.update_retention_rule)), methods=["POST"]),
            Route("/overview/recipient", page(self._guard(self.update_recipient)), methods=["POST"]),
        ]

    def _guard(self, handler):
        async def guarded(request: Request, staff: Staff) -> Response:
            try:
                return await handler(request, staff)
            except _Refused as refusal:
                return self.console.refuse(request, staff, refusal.status, refusal.message)

        return guarded

    async def _run(self, staff: Staff, document: str, variables: dict | None = None) -> dict:
        console = self.console
        result = present_result(await execute_as(console.runtime, console.schema, staff.viewer, document, variables))
        if result.get("errors"):
            first = result["errors"][0]
            code = (first.get("extensions") or {}).get("code", "")
            raise _Refused(ERROR_STATUS.get(code, 400), first["message"])
        return result["data"]

    async def _mutate(self, staff: Staff, document: str, variables: dict) -> list[dict]:
        """The userErrors of a mutation (the refusals a person can fix), none when it worked."""
        return (await self._run(staff, document, variables))["result"]["userErrors"]

    def _back(self, path: str) -> Response:
        return RedirectResponse(COOKIE_PATH + path, status_code=303, headers=SECURITY_HEADERS)

    async def queue(self, request: Request, staff: Staff) -> Response:
        query = request.query_params
        status, kind, overdue = query.get("status") or None, query.get("type") or None, query.get("overdue") == "1"
        filter_ = {"status": [status] if status else None, "type": [kind] if kind else None, "overdue": True if overdue else None}
        data = await self._run(staff, documents.REQUEST_QUEUE, {"filter": filter_, "after": query.get("after") or None})
        connection = data["dataSubjectRequests"]
        return self.console.render(
            request,
            "queue.html",
            staff,
            requests=[edge["node"] for edge in connection["edges"]],
            total=connection["totalCount"],
            page_info=connection["pageInfo"],
            statuses=values.STATUS_LABELS,
            types=values.TYPE_LABELS,
            chosen={"status": status, "type": kind, "overdue": overdue},
        )

    async def request_page(
        self, request: Request, staff: Staff, errors=(), export_url: str | None = None, request_id: str | None = None
    ) -> Response:
        request_id = request_id or request.query_params.get("id") or ""
        data = await self._run(staff, documents.REQUEST_PAGE, {"id": request_id})
        if not data["node"]:
            raise _Refused(404, "no such request")
        status = 422 if errors else 200
        return self.console.render(
            request, "request.html", staff, status=status, item=data["node"], errors=errors, export_url=export_url
        )

    async def request_action(self, request: Request, staff: Staff) -> Response:
        action, fields = request.path_params["action"], await request.form()
        request_id = str(fields.get("id") or "")
        if action == "export":
            data = await self._run(staff, documents.EXPORT_LINK, {"id": request_id, "format": fields.get("format") or "json"})
            errors, url = data["result"]["userErrors"], data["result"]["url"]
            return await self.request_page(request, staff, errors=errors, export_url=url, request_id=request_id)
        if action not in documents.REQUEST_ACTIONS:
            raise _Refused(404, "no such action")
        variables: dict = {"id": request_id}
        if action == "extend":
            months = str(fields.get("months") or "")
            variables |= {"months": int(months) if months.isdigit() else 0, "reason": str(fields.get("reason") or "")}
        errors = await self._mutate(staff, documents.REQUEST_ACTIONS[action], variables)
        if errors:
            return await self.request_page(request, staff, errors=errors, request_id=request_id)
        return self._back(f"/request?{urlencode({'id': request_id})}")

    async def _subjects(self, request: Request, staff: Staff) -> list[dict]:
        search = (request.query_params.get("q") or "").strip()
        if not search:
            return []
        data = await self._run(staff, documents.SUBJECT_SEARCH, {"search": search})
        return [edge["node"] for edge in data["contacts"]["edges"]]

    async def holds(self, request: Request, staff: Staff, errors=()) -> Response:
        contact = request.query_params.get("contact")
        data = await self._run(staff, documents.SUBJECT_HOLDS, {"contact": contact}) if contact else None
        return self.console.render(
            request,
            "holds.html",
            staff,
            status=422 if errors else 200,
            subjects=await self._subjects(request, staff),
            data=data,
            errors=errors,
        )

    async def place_hold(self, request: Request, staff: Staff) -> Response:
        fields = await request.form()
        contact = str(fields.get("contact") or "")
        hold = {
            "contactId": contact,
            "recordId": str(fields.get("record") or ""),
            "basis": str(fields.get("basis") or ""),
            "reference": str(fields.get("reference") or "") or None,
            "until": str(fields.get("until") or "") or None,
        }
        errors = await self._mutate(staff, documents.PLACE_HOLD, {"input": hold})
        if errors:
            request.scope["query_string"] = urlencode({"contact": contact}).encode()
            return await self.holds(request, staff, errors=errors)
        return self._back(f"/holds?{urlencode({'contact': contact})}")

    async def release_hold(self, request: Request, staff: Staff) -> Response:
        fields = await request.form()
        contact = str(fields.get("contact") or "")
        errors = await self._mutate(staff, documents.RELEASE_HOLD, {"id": str(fields.get("id") or "")})
        if errors:
            request.scope["query_string"] = urlencode({"contact": contact}).encode()
            return await self.holds(request, staff, errors=errors)
        return self._back(f"/holds?{urlencode({'contact': contact})}")

    async def consent(self, request: Request, staff: Staff, errors=()) -> Response:
        contact = request.query_params.get("contact")
        data = await self._run(staff, documents.SUBJECT_CONSENT, {"contact": contact}) if contact else None
        history: dict[str, list] = {}
        for record in (data or {}).get("consentHistory", []):
            history.setdefault(record["purpose"], []).append(record)
        return self.console.render(
            request,
            "consent.html",
            staff,
            status=422 if errors else 200,
            subjects=await self._subjects(request, staff),
            data=data,
            history=history,
            errors=errors,
        )

    async def withdraw(self, request: Request, staff: Staff) -> Response:
        fields = await request.form()
        contact = str(fields.get("contact") or "")
        consent = {
            "contactId": contact,
            "purpose": str(fields.get("purpose") or ""),
            "state": "withdrawn",
            "source": "agent",
            "method": str(fields.get("method") or "") or None,
            "evidence": str(fields.get("evidence") or "") or None,
        }
        errors = await self._mutate(staff, documents.WITHDRAW_CONSENT, {"input": consent})
        if errors:
            request.scope["query_string"] = urlencode({"contact": contact}).encode()
            return await self.consent(request, staff, errors=errors)
        return self._back(f"/consent?{urlencode({'contact': contact})}")

    async def access_log(self, request: Request, staff: Staff) -> Response:
        """One person's entries (filtered by a staff member's name), or one staff member's newest
        entries across people; the chain's verification either way."""
        contact, user = request.query_params.get("contact"), request.query_params.get("user")
        staff_name = (request.query_params.get("staff") or "").strip()
        data, entries, names = None, [], {}
        if user:
            last = self.console.runtime.settings.max_page_size
            data = await self._run(staff, documents.STAFF_ACCESS_LOG, {"user": user, "last": last})
            entries = data["accessLog"]
            names = await self._subject_names({entry["contactId"] for entry in entries}, staff)
        elif contact:
            data = await self._run(staff, documents.ACCESS_LOG, {"contact": contact})
            entries = [
                entry
                for entry in data["accessLog"]
                if not staff_name or (entry["user"] and staff_name.casefold() in entry["user"]["displayName"].casefold())
            ]
        verification = (data or await self._run(staff, documents.VERIFY_ACCESS_LOG))["verifyAccessLog"]
        return self.console.render(
            request,
            "access_log.html",
            staff,
            subjects=await self._subjects(request, staff),
            staff_members=(await self._run(staff, documents.STAFF))["users"],
            chosen_user=user,
            data=data,
            entries=entries,
            subject_names=names,
            staff_name=staff_name,
            verification=verification,
        )

    async def _subject_names(self, ids: set[str], staff: Staff) -> dict[str, str]:
        """The names of the people an access log speaks of (an erased person has none)."""
        if not ids:
            return {}
        nodes = (await self._run(staff, documents.SUBJECT_NAMES, {"ids": sorted(ids)}))["nodes"]
        return {node["id"]: node["displayName"] for node in nodes if node}

    async def overview(self, request: Request, staff: Staff, errors=()) -> Response:
        """What is owed and by when, incidents and their clocks, retention, the processor register."""
        data = await self._run(staff, documents.OVERVIEW)
        _ = self.console.gettext(request, staff)
        deadline_names = {
            "GDPR_AUTHORITY": _("GDPR: notify the authority"),
            "APPI_PRELIMINARY": _("APPI: preliminary report (速報)"),
            "APPI_FINAL": _("APPI: final report (確報)"),
            "DSR_RESPONSE": _("Answer a data-subject request"),
        }
        status = 422 if errors else 200
        return self.console.render(
            request, "overview.html", staff, status=status, data=data, deadline_names=deadline_names, errors=errors
        )

    async def update_retention_rule(self, request: Request, staff: Staff) -> Response:
        fields = await request.form()
        months = str(fields.get("months") or "")
        rule = {
            "id": str(fields.get("id") or ""),
            # Not a number of months: 0, which the service refuses with its own message.
            "periodMonths": int(months) if months.isdigit() and len(months) <= 4 else 0,
            "basis": str(fields.get("basis") or ""),
            "active": fields.get("active") == "1",
        }
        return await self._edit_overview(request, staff, documents.UPDATE_RETENTION_RULE, rule, "#retention")

    async def update_recipient(self, request: Request, staff: Staff) -> Response:
        fields = await request.form()
        recipient = {"id": str(fields.get("id") or ""), "reviewDate": str(fields.get("review") or "") or None}
        return await self._edit_overview(request, staff, documents.UPDATE_RECIPIENT, recipient, "#processors")

    async def _edit_overview(self, request: Request, staff: Staff, document: str, values: dict, section: str) -> Response:
        errors = await self._mutate(staff, document, {"input": values})
        if errors:
            return await self.overview(request, staff, errors=errors)
        return self._back(f"/overview{section}")
