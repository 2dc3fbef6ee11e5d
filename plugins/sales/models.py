"""Sales tables: pipelines and their stages, deals with their stage history and contact roles,
account teams. Money is an integer count of the currency's minor unit (yen for JPY, cents for
USD) beside its ISO 4217 code; probabilities are integer percent. No floats anywhere."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from enishi.plugin import Base, DataKey, JSONType, Sealable, Sealed, UTCDateTime, new_id, owns_key

STAGE_KINDS = ("open", "won", "lost")
FORECAST_CATEGORIES = ("pipeline", "best_case", "commit", "omitted", "closed")
# Shared with ABM's buying roles (plugins/abm/models.py ROLES) so a committee and a deal speak
# the same words, without this plugin needing ABM installed.
CONTACT_ROLES = ("decision_maker", "budget_holder", "champion", "influencer", "end_user", "executive_sponsor", "legal", "blocker")
TEAM_ROLES = ("account_executive", "inside_sales", "customer_success", "technical")


class SalesPipeline(Base):
    __tablename__ = "sales_pipeline"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # The account team role whose member owns a new deal created without an owner (TEAM_ROLES).
    team_role: Mapped[str] = mapped_column(String(30), default="account_executive", server_default="account_executive")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SalesStage(Base):
    """One column of a pipeline. `probability` is the default win probability (percent) of the
    deals that enter it; `rotting_days` flags its open deals stale after that many days without
    activity (None: never)."""

    __tablename__ = "sales_stage"
    __table_args__ = (
        UniqueConstraint("pipeline_id", "name"),
        CheckConstraint("probability BETWEEN 0 AND 100", name="probability_percent"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    pipeline_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sales_pipeline.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)
    probability: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))  # STAGE_KINDS
    rotting_days: Mapped[int | None] = mapped_column(Integer)


class SalesDeal(Base):
    __tablename__ = "sales_deal"
    __table_args__ = (
        CheckConstraint("probability BETWEEN 0 AND 100", name="probability_percent"),
        Index("ix_sales_deal_stage_created", "stage_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_account.id", ondelete="CASCADE"), index=True)
    pipeline_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sales_pipeline.id"), index=True)
    stage_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sales_stage.id"))
    amount: Mapped[int] = mapped_column(BigInteger)  # minor units of `currency`
    currency: Mapped[str] = mapped_column(String(3))
    probability: Mapped[int] = mapped_column(Integer)
    forecast_category: Mapped[str] = mapped_column(String(20))  # FORECAST_CATEGORIES
    expected_close_date: Mapped[dt.date | None] = mapped_column(Date)
    close_date: Mapped[dt.date | None] = mapped_column(Date)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"), index=True)
    department: Mapped[str | None] = mapped_column(String(200))  # the account's department the deal is with
    source: Mapped[str | None] = mapped_column(String(100))
    competitors: Mapped[list] = mapped_column(JSONType, default=list)
    next_step: Mapped[str | None] = mapped_column(String(500))
    custom_fields: Mapped[dict] = mapped_column(JSONType, default=dict)
    lost_reason: Mapped[str | None] = mapped_column(String(100))
    lost_to_competitor: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    stage_entered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The latest of: the deal's own changes, activities on its account or its contacts.
    last_activity_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SalesStageChange(Base):
    """A deal's stage history: from (None when created), to, who, when."""

    __tablename__ = "sales_stage_change"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sales_deal.id", ondelete="CASCADE"), index=True)
    from_stage_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sales_stage.id"))
    to_stage_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sales_stage.id"))
    changed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SalesDealContact(Sealable, Base):
    """A person's role on a deal. The note about them is personal data, sealed under the row's
    own key: erasing the person deletes the row (and so the key) and leaves the deal."""

    __tablename__ = "sales_deal_contact"
    __table_args__ = (UniqueConstraint("deal_id", "contact_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sales_deal.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_contact.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(30))  # CONTACT_ROLES
    is_primary: Mapped[bool] = mapped_column(default=False)
    sealed_note: Mapped[bytes | None] = mapped_column(LargeBinary)
    note = Sealed()
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SalesDealContactKey(DataKey, Base):
    __tablename__ = "sales_deal_contact_key"

    deal_contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sales_deal_contact.id", ondelete="CASCADE"), primary_key=True)


owns_key(SalesDealContact, SalesDealContactKey)


class SalesTeamMember(Base):
    """A user on an account's team, with a role and optionally the account's department they
    cover. A `sales` user sees the deals of the accounts whose team they are on."""

    __tablename__ = "sales_team_member"
    __table_args__ = (UniqueConstraint("account_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_account.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(30))  # TEAM_ROLES
    department: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SalesSequence(Base):
    """A document number counter (quotes): the row is locked FOR UPDATE by the transaction that
    takes the next number, so numbers are consecutive and never skipped (a rolled-back
    transaction gives its number back)."""

    __tablename__ = "sales_sequence"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    next_value: Mapped[int] = mapped_column(BigInteger, default=1)


TAX_CATEGORIES = ("standard", "reduced", "exempt")
QUOTE_STATUSES = ("draft", "sent", "accepted", "declined", "expired", "superseded")


class SalesProduct(Base):
    __tablename__ = "sales_product"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    unit_price: Mapped[int] = mapped_column(BigInteger)  # minor units, tax excluded
    currency: Mapped[str] = mapped_column(String(3))
    tax_category: Mapped[str] = mapped_column(String(10))  # TAX_CATEGORIES
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SalesQuote(Base):
    """One version of a quote (見積書). Revising copies it into version + 1 under the same number
    and marks this one `superseded`; totals are computed once, when the lines are written."""

    __tablename__ = "sales_quote"
    __table_args__ = (UniqueConstraint("number", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(40), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    previous_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sales_quote.id"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_account.id", ondelete="CASCADE"), index=True)
    deal_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sales_deal.id", ondelete="SET NULL"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12))  # QUOTE_STATUSES
    currency: Mapped[str] = mapped_column(String(3))
    seller_registration_number: Mapped[str | None] = mapped_column(String(14))
    rounding: Mapped[str] = mapped_column(String(12))  # how each rate's tax was rounded
    subtotal: Mapped[int] = mapped_column(BigInteger)
    tax: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    # [{"category", "rate_percent", "subtotal", "tax"}]: what the qualified invoice shows per rate.
    tax_breakdown: Mapped[list] = mapped_column(JSONType, default=list)
    issue_date: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SalesQuoteLine(Base):
    __tablename__ = "sales_quote_line"
    __table_args__ = (UniqueConstraint("quote_id", "position"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    quote_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sales_quote.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sales_product.id", ondelete="SET NULL"))
    description: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(BigInteger)
    discount: Mapped[int] = mapped_column(BigInteger, default=0)  # an amount off the line, tax excluded
    tax_category: Mapped[str] = mapped_column(String(10))
    amount: Mapped[int] = mapped_column(BigInteger)  # quantity × unit price − discount


BILLING_CYCLES = ("monthly", "quarterly", "semiannual", "annual", "one_time")
CONTRACT_STATUSES = ("active", "renewed", "expired")
ALERT_KINDS = ("renewal_due", "expired")


class SalesContract(Base):
    """One term of a contract. Renewing writes the next term as a new row pointing at this one
    (`previous_id`) and marks this one `renewed`; `value` is per billing period."""

    __tablename__ = "sales_contract"
    __table_args__ = (CheckConstraint("end_date >= start_date", name="ends_after_start"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_account.id", ondelete="CASCADE"), index=True)
    deal_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sales_deal.id", ondelete="SET NULL"), index=True)
    previous_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sales_contract.id"), unique=True)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    department: Mapped[str | None] = mapped_column(String(200))  # the account's department it is with
    name: Mapped[str] = mapped_column(String(200))
    term: Mapped[int] = mapped_column(Integer, default=1)
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date, index=True)
    value: Mapped[int] = mapped_column(BigInteger)  # minor units per billing period
    currency: Mapped[str] = mapped_column(String(3))
    billing_cycle: Mapped[str] = mapped_column(String(12))  # BILLING_CYCLES
    auto_renew: Mapped[bool] = mapped_column(default=False)
    notice_days: Mapped[int] = mapped_column(Integer, default=0)
    # end_date − notice_days, kept so the alert job finds due terms by index, not by date arithmetic in SQL
    notice_deadline: Mapped[dt.date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(10))  # CONTRACT_STATUSES
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SalesContractAlert(Base):
    """That an alert of a kind was raised for a contract term: the unique key makes the
    scheduled job raise it once, however many times and on however many workers it runs."""

    __tablename__ = "sales_contract_alert"
    __table_args__ = (UniqueConstraint("contract_id", "kind"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sales_contract.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # ALERT_KINDS
    task_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_task.id", ondelete="SET NULL"))
    raised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


QUOTA_PERIODS = ("month", "quarter")


class SalesQuota(Base):
    """What an owner should win in a month or a quarter (in one currency): attainment compares
    the won deals that closed in the period with it."""

    __tablename__ = "sales_quota"
    __table_args__ = (UniqueConstraint("owner_id", "period", "period_start", "currency"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    period: Mapped[str] = mapped_column(String(10))  # QUOTA_PERIODS
    period_start: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
