"""Command handlers: load aggregates, let the domain decide, append the new events atomically."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID, uuid4

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError

from adapters.eventstore import EventStore, retry_on_conflict
from adapters.keystore import KeyStore
from adapters.llm import LanguageModel
from adapters.media import LocalMediaStore, MediaStore
from adapters.settings import Settings
from adapters.voice_samples import SampleRejected, VoiceSampleStore, normalise
from domain.credits import CreditAccount, credit_account_id
from domain.errors import Conflict, Invalid, NotFound
from domain.estimate import estimate
from domain.fountain import scene_spans
from domain.production import Production, ProductionOptions
from domain.project import SCRIPT_HELP, Project, check_choice
from domain.user import User

Owned = TypeVar("Owned", Project, Production)  # the aggregates a creator owns
# What erasing a user does between `ErasureRequested` and `Erased`, in order; each is idempotent.
ERASURE_STEPS = (
    "_stop_productions",
    "_delete_media",
    "_delete_voice_samples",
    "_forget_elsewhere",
    "_destroy_key",
    "_release_email",
)


# The user whose account the current request has just found live (the API checks its caller at
# the start of every route): an ownership check later in the same request need not read that
# account again. Each request runs in a context of its own; unset, every check reads it.
LIVE_USER: ContextVar[UUID | None] = ContextVar("live_user", default=None)


@dataclass(frozen=True)
class Identity:
    user_id: UUID
    role: str
    password_version: int = 0  # a token names the version it was issued for


@dataclass(frozen=True)
class ScriptSuggestion:
    suggestion_id: UUID
    scene: int
    original: str
    suggested: str
    position: int


@dataclass(frozen=True)
class VoiceSampleAdded:
    sample_id: UUID
    seconds: float
    position: int


@dataclass(frozen=True)
class ProductionRequested:
    production_id: UUID
    reserved_credits: int
    position: int


class Studio:
    """The write side's entry point: one method per command."""

    def __init__(
        self,
        settings: Settings,
        store: EventStore,
        keys: KeyStore,
        media: MediaStore | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.keys = keys
        self.samples = VoiceSampleStore(settings.voice_samples_root, keys)
        self.media = media or LocalMediaStore(settings.media_root)
        self.hasher = PasswordHasher()
        # Erasure steps outside the studio's own stores (e.g. the payment provider's customer),
        # registered by the composition root; each is idempotent.
        self.outside_erasers: list[Callable[[UUID], None]] = []

    # Users

    def register(
        self, email: str, password: str, display_name: str, role: str = "creator"
    ) -> tuple[UUID, int]:
        user_id = uuid4()
        if not self.keys.claim_email(email, user_id):
            raise Conflict("this email is already registered")
        try:
            self.keys.create_key(user_id)
            user = User(
                id=user_id,
                email_cipher=self.keys.encrypt(user_id, email.strip().lower()),
                display_name_cipher=self.keys.encrypt(user_id, display_name),
                password_hash_cipher=self.keys.encrypt(user_id, self.hasher.hash(password)),
                role=role,
            )
            position = self.store.save_all(user, CreditAccount(user_id=user_id))
        except BaseException:
            self.keys.release_email(user_id)
            raise
        return user_id, position

    def authenticate(self, email: str, password: str) -> Identity | None:
        user_id = self.keys.user_for_email(email)
        user = None if user_id is None else self.store.find(user_id)
        if user_id is None or not isinstance(user, User) or user.gone:
            return None
        try:
            self.hasher.verify(self.keys.decrypt(user_id, user.password_hash_cipher), password)
        except (VerifyMismatchError, InvalidHashError):
            return None
        return _identity(user)

    def identity(self, user_id: UUID) -> Identity | None:
        """The user's current identity; None once they are erased or being erased."""
        user = self.store.find(user_id)
        if not isinstance(user, User) or user.gone:
            return None
        return _identity(user)

    def ensure_admin(self, email: str, password: str) -> UUID:
        """The first admin, created at start-up from settings; idempotent."""
        existing = self.keys.user_for_email(email)
        if existing is not None:
            return existing
        try:
            return self.register(email, password, "Administrator", role="admin")[0]
        except Conflict:
            found = self.keys.user_for_email(email)
            assert found is not None
            return found

    def change_profile(self, user_id: UUID, display_name: str) -> int:
        def decide() -> int:
            user = self.user(user_id)
            user.change_profile(self.keys.encrypt(user_id, display_name))
            return self.store.save_all(user)

        return retry_on_conflict(decide)

    def verify_email(self, user_id: UUID) -> int:
        """The user proved the address is theirs (a link from the welcome e-mail); idempotent."""

        def decide() -> int:
            user = self.user(user_id)
            user.verify()
            return self.store.save_all(user) or self.store.last_position()

        return retry_on_conflict(decide)

    def request_password_reset(self, email: str) -> None:
        """Record a reset request when `email` is a user's; says nothing either way, so the
        caller cannot learn which addresses have accounts."""
        user_id = self.keys.user_for_email(email)
        if user_id is None or self.identity(user_id) is None:
            return

        def decide() -> int:
            user = self.user(user_id)
            user.request_password_reset()
            return self.store.save_all(user)

        retry_on_conflict(decide)

    def reset_password(self, user_id: UUID, password_version: int, password: str) -> int:
        """Set a new password with a reset link minted for `password_version`: once the password
        has changed, the link is spent (Conflict)."""
        password_hash = self.hasher.hash(password)

        def decide() -> int:
            user = self.user(user_id)
            if user.password_version != password_version:
                raise Conflict("this reset link was already used: ask for a new one")
            user.change_password(self.keys.encrypt(user_id, password_hash))
            return self.store.save_all(user)

        return retry_on_conflict(decide)

    def change_email_preferences(
        self, user_id: UUID, language: str | None, product_email: bool | None
    ) -> int:
        def decide() -> int:
            user = self.user(user_id)
            user.change_email_preferences(language, product_email)
            return self.store.save_all(user) or self.store.last_position()

        return retry_on_conflict(decide)

    def erase_user(self, user_id: UUID) -> int:
        """Forget a user, as a resumable process: `user.ErasureRequested`, then idempotent steps
        (`ERASURE_STEPS`), then `user.Erased`; returns the position of the last. Destroying the
        key shreds their personal and creative text in every event, on every topic. A retry
        after a failure at any step resumes; a repeat on an erased user changes nothing."""
        user = self.store.find(user_id)
        if not isinstance(user, User):
            raise NotFound("no such user")
        if user.erased:
            return self.store.last_position()
        self.keys.mark_erasing(user_id, True)  # a restart finishes it (`resume_erasures`)

        def request() -> int:
            found: User = self.store.load(user_id)
            found.request_erasure()
            return self.store.save_all(found)

        retry_on_conflict(request)
        for step in ERASURE_STEPS:
            getattr(self, step)(user_id)

        def erased() -> int:
            found: User = self.store.load(user_id)
            found.erase()
            return self.store.save_all(found) or self.store.last_position()

        position = retry_on_conflict(erased)
        self.keys.mark_erasing(user_id, False)
        return position

    def resume_erasures(self) -> list[UUID]:
        """Finish every erasure a crash interrupted (run at start-up); returns the users."""
        pending = self.keys.pending_erasures()
        for user_id in pending:
            self.erase_user(user_id)
        return pending

    def _owned_productions(self, user_id: UUID) -> list[Production]:
        found = [self.store.find(s) for s in self.keys.subjects_of(user_id)]
        return [p for p in found if isinstance(p, Production) and p.owner_id == user_id]

    def _stop_productions(self, user_id: UUID) -> None:
        """Erasure step: cancel the user's unfinished productions, releasing their credits."""
        for production in self._owned_productions(user_id):
            if not production.finished:
                self._cancel(production.id, "the owner's account was erased")

    def _delete_media(self, user_id: UUID) -> None:
        """Erasure step: every artifact of every production of the user (recorded, or of a unit
        dispatched but not reported yet), and their claim-checked inputs."""
        for production in self._owned_productions(user_id):
            keys = {u.artifact for s in production.stages.values() for u in s.units.values()}
            keys |= set(production.artifacts.values()) | set(self.media.input_keys(production.id))
            for key in sorted(keys - {""}):
                self.media.delete(key)
            self.media.delete_inputs(production.id)

    def _delete_voice_samples(self, user_id: UUID) -> None:
        self.samples.erase(user_id)

    def _forget_elsewhere(self, user_id: UUID) -> None:
        for erase in self.outside_erasers:
            erase(user_id)

    def _destroy_key(self, user_id: UUID) -> None:
        self.keys.destroy_key(user_id)
        self.store.forget(user_id, *self.keys.subjects_of(user_id))  # loaded again: shredded

    def _release_email(self, user_id: UUID) -> None:
        self.keys.release_email(user_id)

    # Script help (a language model rewrites one scene; the creator accepts it or not)

    def script_help(
        self, owner_id: UUID, project_id: UUID, action: str, scene: int
    ) -> ScriptSuggestion:
        project = self._project(owner_id, project_id)
        check_choice("action", action, SCRIPT_HELP)
        if project.revision == 0:
            raise Conflict("this project has no script yet")
        lines = project.script_text.replace("\r\n", "\n").split("\n")
        spans = scene_spans(project.script_format, project.script_text)
        if not 1 <= scene <= len(spans):
            raise Invalid(f"this script's scenes run from 1 to {len(spans)}")
        start, end = spans[scene - 1]
        original = "\n".join(lines[start:end]).strip("\n") + "\n"
        context = "\n".join(lines[a] for a, _ in spans)  # every scene's first line
        llm = LanguageModel.from_settings(self.settings)
        cost = self.settings.script_help_credits
        if cost:  # refused before the language model is asked, charged with the suggestion
            self.store.load(credit_account_id(owner_id)).afford(cost)
        suggested = llm.script_help(action, original, context, project.language)  # type: ignore[arg-type]
        suggestion_id = uuid4()

        def decide() -> int:
            current = self._project(owner_id, project_id)
            if current.revision != project.revision:
                raise Conflict("the script changed while the language model worked: ask again")
            current.suggest(suggestion_id, scene, action, suggested, llm.model)
            if not cost:
                return self.store.save_all(current)
            account = self.store.load(credit_account_id(owner_id))
            account.charge(cost, "script_help", str(suggestion_id))
            account.warn_if_low(self.settings.low_balance_credits)
            return self.store.save_all(current, account)

        position = retry_on_conflict(decide)
        return ScriptSuggestion(suggestion_id, scene, original, suggested, position)

    def accept_suggestion(
        self, owner_id: UUID, project_id: UUID, suggestion_id: UUID
    ) -> tuple[int, int]:
        """Replace the suggestion's scene with it, as a new script revision."""

        def decide() -> tuple[int, int]:
            project = self._project(owner_id, project_id)
            suggestion = project.suggestion(suggestion_id)
            lines = project.script_text.replace("\r\n", "\n").split("\n")
            start, end = scene_spans(project.script_format, project.script_text)[
                suggestion["scene"] - 1
            ]
            tail = [""] if end < len(lines) else []  # keep the blank line before the next scene
            text = suggestion["text"].rstrip("\n").split("\n")
            revised = "\n".join(lines[:start] + text + tail + lines[end:])
            revision = project.revise_script(project.script_format, revised)
            return revision, self.store.save_all(project)

        return retry_on_conflict(decide)

    # Voice samples

    def add_voice_sample(
        self, user_id: UUID, name: str, audio: bytes, sample_id: UUID | None = None
    ) -> VoiceSampleAdded:
        """Store an uploaded sample sealed, then record it: no event names a missing sample."""
        name = name.strip()
        if not 1 <= len(name) <= 80:
            raise Invalid("a voice sample's name has 1 to 80 characters")
        try:
            wav, seconds = normalise(audio)
        except SampleRejected as rejected:
            raise Invalid(str(rejected)) from None
        sample_id = sample_id or uuid4()
        self.user(user_id)
        self.samples.save(user_id, sample_id, wav)

        def decide() -> int:
            user = self.user(user_id)
            user.add_voice_sample(sample_id, self.keys.encrypt(user_id, name), seconds)
            return self.store.save_all(user) or self.store.last_position()

        try:
            position = retry_on_conflict(decide)
        except Exception:
            self.samples.delete(user_id, sample_id)
            raise
        return VoiceSampleAdded(sample_id, seconds, position)

    def remove_voice_sample(self, user_id: UUID, sample_id: UUID) -> int:
        def decide() -> int:
            user = self.user(user_id)
            user.remove_voice_sample(sample_id)
            return self.store.save_all(user)

        position = retry_on_conflict(decide)
        self.samples.delete(user_id, sample_id)
        return position

    # Credits

    def grant_credits(
        self, user_id: UUID, amount: int, reason: str, source: str = "admin", reference: str = ""
    ) -> int:
        self.user(user_id)

        def decide() -> int:
            account = self.store.load(credit_account_id(user_id))
            account.grant(amount, source, reason, reference)
            return self.store.save_all(account)

        return retry_on_conflict(decide)

    # Projects

    def create_project(
        self, owner_id: UUID, title: str, language: str, aspect_ratio: str
    ) -> tuple[UUID, int]:
        self.user(owner_id)
        project = Project.create(owner_id, title, language, aspect_ratio)
        return project.id, self.store.save_all(project)

    def revise_script(
        self, owner_id: UUID, project_id: UUID, script_format: str, text: str
    ) -> tuple[int, int]:
        def decide() -> tuple[int, int]:
            project = self._project(owner_id, project_id)
            revision = project.revise_script(script_format, text)
            return revision, self.store.save_all(project)

        return retry_on_conflict(decide)

    def change_project_settings(
        self,
        owner_id: UUID,
        project_id: UUID,
        title: str | None = None,
        language: str | None = None,
        aspect_ratio: str | None = None,
    ) -> int:
        def decide() -> int:
            project = self._project(owner_id, project_id)
            project.change_settings(title, language, aspect_ratio)
            return self.store.save_all(project) or self.store.last_position()

        return retry_on_conflict(decide)

    def archive_project(self, owner_id: UUID, project_id: UUID) -> int:
        def decide() -> int:
            project = self._project(owner_id, project_id)
            project.archive()
            return self.store.save_all(project) or self.store.last_position()

        return retry_on_conflict(decide)

    # Productions

    def request_production(
        self,
        owner_id: UUID,
        project_id: UUID,
        options: ProductionOptions,
        production_id: UUID | None = None,
    ) -> ProductionRequested:
        """Reserve the estimated credits and record the request, atomically and once."""
        chosen = production_id is not None  # a retry may find it recorded already
        production_id = production_id or uuid4()
        if options.quality == "final" and not self.settings.model_backends:
            raise Invalid(
                "final quality needs the model backends, which this installation does not run; "
                "use draft"
            )

        def decide() -> ProductionRequested:
            existing = self.store.find(production_id) if chosen else None
            if existing is not None:
                if not isinstance(existing, Production) or existing.owner_id != owner_id:
                    raise Conflict("this production id is taken")
                return ProductionRequested(
                    production_id, existing.credits, self.store.last_position()
                )
            project = self._project(owner_id, project_id)
            if options.voice_samples():
                self.user(owner_id).check_voice_samples(options.voice_samples())
            cost = estimate(
                project.script_format,
                project.script_text,
                self.settings.credits_per_minute,
                options.quality,
            )
            production = Production.request(
                production_id, project, options, cost.credits, cost.seconds
            )
            account = self.store.load(credit_account_id(owner_id))
            account.reserve(production_id, cost.credits)
            position = self.store.save_all(account, production)
            return ProductionRequested(production_id, cost.credits, position)

        return retry_on_conflict(decide)

    def cancel_production(self, owner_id: UUID, production_id: UUID, reason: str) -> int:
        """Stop a production and give its reserved credits back."""
        self._production(owner_id, production_id)
        return self._cancel(production_id, reason)

    def _cancel(self, production_id: UUID, reason: str) -> int:
        def decide() -> int:
            production: Production = self.store.load(production_id)
            production.cancel(reason)
            account = self.store.load(credit_account_id(production.owner_id))
            account.release(production_id)
            return self.store.save_all(production, account) or self.store.last_position()

        return retry_on_conflict(decide)

    # Loading, scoped to the caller

    def user(self, user_id: UUID) -> User:
        user = self.store.find(user_id)
        if not isinstance(user, User) or user.gone:
            raise NotFound("no such user")
        return user

    def _project(self, owner_id: UUID, project_id: UUID) -> Project:
        return self._owned(Project, owner_id, project_id, "project")

    def _production(self, owner_id: UUID, production_id: UUID) -> Production:
        return self._owned(Production, owner_id, production_id, "production")

    def _owned(self, kind: type[Owned], owner_id: UUID, aggregate_id: UUID, name: str) -> Owned:
        found = self.store.find(aggregate_id)
        if not isinstance(found, kind) or found.owner_id != owner_id:
            raise NotFound(f"no such {name}")
        if LIVE_USER.get() != owner_id:  # an erased (or erasing) owner's aggregates are gone too
            self.user(owner_id)
        return found


def _identity(user: User) -> Identity:
    return Identity(user_id=user.id, role=user.role, password_version=user.password_version)
