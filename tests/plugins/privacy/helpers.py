"""What the privacy tests share: the permission decision of every root field, a plugin holding
personal data of its own, data-subject requests taken in and run over GraphQL, the one-time codes
mailed, and the scans for a person's data left in tables and files."""

import base64
import json
import re
import uuid

from sqlalchemy import text

from enishi import ErasureReport, hookimpl
from enishi.outbox import deliver_pending

REQUEST = (
    "id status type regime dueDate daysLeft overdue extended "
    "runs { plugin action status attempts affected retained error } history { status note } exports { format downloadedAt }"
)
PRIVACY_FIELDS = {
    "Query.consentHistory": "privacy.consent.read",
    "Query.consentWithdrawalLink": "privacy.consent.write",
    "Mutation.recordConsent": "privacy.consent.write",
    "Mutation.withdrawConsent": "privacy.consent.write",
    "Query.dataSubjectRequests": "privacy.request.manage",
    "Query.legalHolds": "privacy.request.manage",
    "Query.legalHoldTypes": "privacy.request.manage",
    "Query.accessLog": "privacy.audit",
    "Query.verifyAccessLog": "privacy.audit",
    "Query.incidents": "privacy.incident.manage",
    "Query.complianceDeadlines": "privacy.incident.manage",
    **dict.fromkeys(
        (
            "Query.retentionEntities",
            "Query.retentionRules",
            "Query.retentionPreview",
            "Query.retentionRuns",
            "Mutation.createRetentionRule",
            "Mutation.updateRetentionRule",
            "Mutation.deleteRetentionRule",
            "Mutation.runRetentionSweep",
        ),
        "privacy.retention.manage",
    ),
    "Query.recordsOfProcessingReport": "privacy.report.read",
    "Query.appiPublicStatement": "privacy.report.read",
    "Mutation.privacyReportLink": "privacy.report.read",
    "Query.privacyExtracts": "privacy.extract.create",
    "Query.privacyExtractSources": "privacy.extract.create",
    "Mutation.createPrivacyExtract": "privacy.extract.create",
    "Mutation.providePrivacyExtract": "privacy.extract.create",
    "Query.privacyExtractMappingKey": "privacy.extract.key",
    **{
        f"Mutation.{name}": "privacy.incident.manage"
        for name in (
            "createIncident",
            "recordIncidentReport",
            "updateIncidentStatus",
            "addIncidentSubjectsFromAccessLog",
            "notifyIncidentSubjects",
        )
    },
    "Mutation.createDataSubjectRequest": "privacy.request.intake",
    "Mutation.submitDataSubjectRequest": "public",
    "Mutation.verifyDataSubjectRequest": "public",
    **{
        f"Mutation.{name}": "privacy.request.manage"
        for name in (
            "approveDataSubjectRequest",
            "denyDataSubjectRequest",
            "cancelDataSubjectRequest",
            "extendDataSubjectRequest",
            "executeDataSubjectRequest",
            "retryDataSubjectRequest",
            "completeDataSubjectRequest",
            "dataSubjectExportLink",
            "placeLegalHold",
            "releaseLegalHold",
            "liftRestriction",
        )
    },
    **dict.fromkeys(
        (
            "Query.provisionRecipients",
            "Query.provisionRecords",
            "Query.crossBorderConsents",
            "Mutation.registerRecipient",
            "Mutation.updateRecipient",
            "Mutation.recordProvision",
            "Mutation.recordCrossBorderConsent",
            "Mutation.deleteRecipient",
            "Query.receiptRecords",
            "Mutation.recordReceipt",
        ),
        "privacy.provision.manage",
    ),
    "Query.sensitiveFields": "privacy.sensitive.manage",
    "Query.sensitiveCapableFields": "privacy.sensitive.manage",
    "Mutation.markFieldSensitive": "privacy.sensitive.manage",
    "Mutation.unmarkFieldSensitive": "privacy.sensitive.manage",
    "Query.sensitiveFieldChanges": "privacy.sensitive.manage",
    "Mutation.recordLegalGround": "privacy.sensitive.manage",
}


class NotesPlugin:
    """A third-party plugin holding personal data of its own (in memory), whose erasure can fail."""

    def __init__(self):
        self.notes: dict[uuid.UUID, list[str]] = {}
        self.failures_left = 0

    @hookimpl
    def enishi_subject_collect(self, uow, subject):
        return {"notes": self.notes[subject.contact_id]} if subject.contact_id in self.notes else None

    @hookimpl
    def enishi_subject_erase(self, uow, subject):
        if self.failures_left:
            self.failures_left -= 1
            raise RuntimeError("CRM sync refused the erasure of 山田 太郎 <taro@abc.co.jp>")
        report = ErasureReport("notes")
        report.add("notes", "delete", len(self.notes.pop(subject.contact_id, [])))
        return report


def raw_id(global_id: str) -> uuid.UUID:
    return uuid.UUID(base64.b64decode(global_id).decode().split(":")[1])


async def intake(api, contact_id, type, received_at=None, **extra):
    payload = await api.mutate(
        "createDataSubjectRequest",
        {
            "contactId": contact_id,
            "type": type,
            "channel": "phone",
            "verificationNote": "生年月日と住所で本人確認",
            "receivedAt": received_at,
            **extra,
        },
        f"request {{ {REQUEST} }}",
        role="support",
    )
    assert payload["userErrors"] == [], payload
    return payload["request"]


async def act(api, mutation, request_id, **args):
    arguments = ", ".join(f"{k}: ${k}" for k in ("id", *args))
    types = ", ".join(f"${k}: {'Int!' if isinstance(v, int) else 'String!'}" for k, v in args.items())
    query = (
        f"mutation($id: ID!{', ' + types if types else ''}) "
        f"{{ {mutation}({arguments}) {{ request {{ {REQUEST} }} userErrors {{ field code }} }} }}"
    )
    return (await api.graphql(query, {"id": request_id, **args}, role="compliance"))[mutation]


async def run_request(api, request_id):
    assert (await act(api, "approveDataSubjectRequest", request_id))["userErrors"] == []
    payload = await act(api, "executeDataSubjectRequest", request_id)
    assert payload["userErrors"] == [], payload
    return payload["request"]


async def submit(api, status=202, **body):
    """The subject's own request: plain HTTP, no login (like the withdrawal and survey links)."""
    response = await api.client.post("/privacy/requests", json=body)
    assert response.status_code == status, response.text
    return response.json()


async def verify_code(api, request_id, code, status=200):
    response = await api.client.post(f"/privacy/requests/{request_id}/verify", json={"code": code})
    assert response.status_code == status, response.text
    return response.json()


def error_codes(answer) -> set[str]:
    return {e["code"] for e in answer["errors"]}


async def mailed_codes(api, sent_mail) -> dict:
    """The one-time codes mailed so far, by request: the worker's outbox job delivers them."""
    await deliver_pending(api.runtime)
    async with api.runtime.read_session() as session:
        rows = (
            await session.execute(
                text("SELECT id, entity_id, payload FROM core_outbox WHERE type = 'privacy.verification_code_issued'")
            )
        ).all()
    mails = sent_mail()
    codes = {}
    for event_id, request_id, payload in rows:
        assert "_code" not in (payload if isinstance(payload, dict) else json.loads(payload))  # forgotten once delivered
        code = re.search(
            r"Your verification code for your data request: (\d+)", mails[str(uuid.UUID(str(event_id)))].get_content()
        )
        assert code, "the mail carries the code"
        codes[uuid.UUID(str(request_id))] = code.group(1)
    return codes
