"""The sales plugin's events. Payloads hold ids, codes and amounts (business figures of a
company's deal, not of a person), never personal data."""

from enishi.plugin import EventType, PayloadField

_ACCOUNT = PayloadField("account_id", str, "the deal's account")
_STAGES = (
    PayloadField("pipeline_id", str, "the deal's pipeline"),
    PayloadField("from_stage_id", str | None, "the stage it left (None when created)"),
    PayloadField("to_stage_id", str, "the stage it entered"),
)

DEAL_CREATED = EventType(
    "deal.created",
    "sales_deal",
    "A deal was created.",
    (_ACCOUNT, PayloadField("amount", int, "minor units"), PayloadField("currency", str, "ISO 4217")),
)
DEAL_UPDATED = EventType(
    "deal.updated", "sales_deal", "A deal's fields changed.", (_ACCOUNT, PayloadField("fields", list[str], "what changed"))
)
DEAL_STAGE_CHANGED = EventType("deal.stage_changed", "sales_deal", "A deal moved to another stage.", (_ACCOUNT, *_STAGES))
DEAL_WON = EventType(
    "deal.won",
    "sales_deal",
    "A deal was won (it entered a won stage).",
    (_ACCOUNT, PayloadField("amount", int, "minor units"), PayloadField("currency", str), PayloadField("close_date", str)),
)
DEAL_LOST = EventType(
    "deal.lost",
    "sales_deal",
    "A deal was lost (it entered a lost stage).",
    (_ACCOUNT, PayloadField("reason", str, "one of the configured lost reasons"), PayloadField("close_date", str)),
)
QUOTE_CREATED = EventType(
    "quote.created",
    "sales_quote",
    "A quote (or a new version of one) was written.",
    (
        _ACCOUNT,
        PayloadField("number", str),
        PayloadField("version", int),
        PayloadField("total", int, "minor units, tax included"),
    ),
)
QUOTE_STATUS_CHANGED = EventType(
    "quote.status_changed",
    "sales_quote",
    "A quote was sent, accepted, declined, expired or superseded.",
    (_ACCOUNT, PayloadField("from", str), PayloadField("to", str)),
)

_TERM = (
    _ACCOUNT,
    PayloadField("term", int, "the term's number: 1 for the first, 2 after one renewal"),
    PayloadField("end_date", str, "the term's last day"),
)
CONTRACT_CREATED = EventType("contract.created", "sales_contract", "A contract's first term was written.", _TERM)
CONTRACT_RENEWED = EventType(
    "contract.renewed", "sales_contract", "A new term was written after the previous one (by hand or auto-renewal).", _TERM
)
CONTRACT_RENEWAL_DUE = EventType(
    "contract.renewal_due",
    "sales_contract",
    "The renewal alert of a term: raised once per term, the configured number of days before its notice deadline.",
    (
        *_TERM,
        PayloadField("notice_deadline", str, "the last day to give notice"),
        PayloadField("task_id", str, "the task created for the contract's owner"),
    ),
    fires="by the scheduled job sales.contract_alerts, in the transaction that records the alert",
)
CONTRACT_EXPIRED = EventType(
    "contract.expired",
    "sales_contract",
    "A term ended without renewal.",
    _TERM,
    fires="by the scheduled job sales.contract_alerts, the day after the term's end",
)

EVENT_TYPES = [
    DEAL_CREATED,
    DEAL_UPDATED,
    DEAL_STAGE_CHANGED,
    DEAL_WON,
    DEAL_LOST,
    QUOTE_CREATED,
    QUOTE_STATUS_CHANGED,
    CONTRACT_CREATED,
    CONTRACT_RENEWED,
    CONTRACT_RENEWAL_DUE,
    CONTRACT_EXPIRED,
]
