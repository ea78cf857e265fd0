"""Request and response bodies of the v1 API (the contract the front end codes against)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StrictBool

from domain.project import ASPECT_RATIOS, LANGUAGES, MAX_SCRIPT_BYTES, MAX_TITLE_LENGTH
from domain.text import STORABLE_PATTERN, unstorable
from domain.user import EMAIL_LANGUAGES


def storable(value: str) -> str:
    """The value, when every store can hold it (no NUL or other control characters)."""
    problem = unstorable(value)
    if problem is not None:
        raise ValueError(problem)
    return value


Text = Annotated[
    str, AfterValidator(storable), Field(json_schema_extra={"pattern": STORABLE_PATTERN})
]
"""Any text the API accepts: refused with 422 when it holds C0 control characters but tab,
newline and carriage return."""


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Register(Body):
    email: EmailStr
    password: str = Field(min_length=10, max_length=256)
    display_name: Text = Field(min_length=1, max_length=100)


class Registered(BaseModel):
    user_id: UUID
    position: int


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class Credits(BaseModel):
    balance: int
    reserved: int
    owed: int = Field(
        default=0, description="revoked credits already spent: settled from the next purchase"
    )


class EmailPreferences(BaseModel):
    language: Literal[EMAIL_LANGUAGES] = "en"  # type: ignore[valid-type]
    product_email: bool = Field(
        default=True, description="e-mails about productions and a low balance (non-essential)"
    )


class Me(BaseModel):
    user_id: UUID
    email: str
    display_name: str
    role: str
    verified: bool = False
    email_preferences: EmailPreferences = Field(default_factory=EmailPreferences)
    credits: Credits


class ChangeEmailPreferences(Body):
    language: Literal[EMAIL_LANGUAGES] | None = None  # type: ignore[valid-type]
    product_email: StrictBool | None = None


class AccountToken(Body):
    token: str = Field(min_length=1, max_length=2048, description="from the e-mailed link")


class PasswordResetRequest(Body):
    email: EmailStr


class PasswordResetConfirm(Body):
    token: str = Field(min_length=1, max_length=2048, description="from the e-mailed link")
    password: str = Field(min_length=10, max_length=256)


class Accepted(BaseModel):
    detail: str


class PlanOut(BaseModel):
    id: str
    name: str
    kind: Literal["pack", "subscription"]
    credits: int
    amount_cents: int
    currency: str
    interval: str | None


class Checkout(Body):
    plan: str = Field(min_length=1, max_length=100, description="a plan id of /v1/billing/plans")


class Redirect(BaseModel):
    url: str = Field(description="the payment provider's page to send the browser to")


class WebhookReceived(BaseModel):
    received: bool = True
    outcome: str


class PurchaseOut(BaseModel):
    reference: str
    source: Literal["purchase", "subscription"]
    plan_id: str
    credits: int
    revoked: int
    amount_cents: int
    currency: str
    invoice_url: str | None
    occurred_at: datetime


class SubscriptionOut(BaseModel):
    subscription: str
    plan_id: str
    status: str
    period_end: datetime | None
    cancel_at_period_end: bool
    last_payment_failed_at: datetime | None


class ChangeProfile(Body):
    display_name: Text = Field(min_length=1, max_length=100)


class Position(BaseModel):
    position: int


class CreateProject(Body):
    title: Text = Field(min_length=1, max_length=MAX_TITLE_LENGTH)
    language: str = Field(default="en", json_schema_extra={"enum": list(LANGUAGES)})
    aspect_ratio: str = Field(default="16:9", json_schema_extra={"enum": list(ASPECT_RATIOS)})


class ProjectCreated(BaseModel):
    project_id: UUID
    position: int


class ProjectSummary(BaseModel):
    project_id: UUID
    title: str
    language: str
    aspect_ratio: str
    revision: int
    archived: bool
    created_at: datetime
    updated_at: datetime


class Script(BaseModel):
    format: Literal["fountain", "plain"] | None
    text: str | None


class ProjectDetail(ProjectSummary):
    script: Script


class ProjectSettings(Body):
    title: Text | None = Field(default=None, min_length=1, max_length=MAX_TITLE_LENGTH)
    language: str | None = Field(default=None, json_schema_extra={"enum": [*LANGUAGES, None]})
    aspect_ratio: str | None = Field(
        default=None, json_schema_extra={"enum": [*ASPECT_RATIOS, None]}
    )


class ReviseScript(Body):
    format: Literal["fountain", "plain"]
    text: Text = Field(
        min_length=1,
        description=f"at most {MAX_SCRIPT_BYTES} bytes in UTF-8 (413 when larger)",
    )


class ScriptHelp(Body):
    action: Literal["tighten", "expand"]
    scene: int = Field(ge=1, description="the scene to rewrite, counted from 1")


class ScriptSuggestionOut(BaseModel):
    suggestion_id: UUID
    scene: int
    original: str
    suggested: str
    position: int


class ScriptRevised(BaseModel):
    revision: int
    position: int


class EstimateOut(BaseModel):
    credits: int
    seconds: float


class ProductionAccepted(BaseModel):
    production_id: UUID
    reserved_credits: int
    position: int


class CancelProduction(Body):
    reason: Text = Field(default="cancelled by the creator", max_length=500)


StageStatus = Literal["pending", "running", "completed", "failed"]


class UnitOut(BaseModel):
    unit: str
    attempt: int
    status: str = Field(description="running, completed or failed")
    error: str = Field(description="the last attempt's error (kept after a successful retry)")


class StageOut(BaseModel):
    stage: str
    status: StageStatus
    done: int = Field(description="units completed")
    total: int = Field(description="units dispatched (0 while the stage is pending)")
    units: list[UnitOut]


class SubtitleLinks(BaseModel):
    vtt: str
    srt: str


class ProductionLinks(BaseModel):
    """Where a completed production's media are served."""

    film: str
    thumbnail: str
    subtitles: dict[str, SubtitleLinks] = Field(description="per language")


class ProductionSummary(BaseModel):
    production_id: UUID
    revision: int
    status: str
    requested_at: datetime
    updated_at: datetime
    duration_seconds: float | None = None


class ProductionOut(BaseModel):
    production_id: UUID
    project_id: UUID
    revision: int
    options: dict[str, Any]
    credits: int
    estimated_seconds: float
    status: str
    cancel_reason: str
    requested_at: datetime
    updated_at: datetime
    failure: str = ""
    duration_seconds: float | None = None
    progress: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="the mean over the stages of units done / units planned (a completed "
        "stage counts 1, one not started 0): it never steps back",
    )
    stages: list[StageOut] = Field(default_factory=list, description="in stage graph order")
    links: ProductionLinks | None = Field(default=None, description="once completed")


class LedgerEntry(BaseModel):
    event_id: UUID
    kind: str
    amount: int
    production_id: UUID | None
    source: str | None
    reason: str
    position: int
    occurred_at: datetime


class CreditsOut(Credits):
    ledger: list[LedgerEntry]
    purchases: list[PurchaseOut] = Field(default_factory=list)
    subscription: SubscriptionOut | None = Field(
        default=None, description="the current (or last) subscription"
    )
    invoices: list[str] = Field(default_factory=list, description="hosted invoice pages")


class GrantCredits(Body):
    amount: int = Field(gt=0, le=1_000_000)
    reason: Text = Field(min_length=1, max_length=500)


class UserOut(BaseModel):
    user_id: UUID
    email: str
    display_name: str
    role: str
    balance: int
    reserved: int
    registered_at: datetime
