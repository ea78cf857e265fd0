"""The API's caches: a user's unwrapped key is reused for a bounded time and dropped at once by an
erasure; aggregates kept loaded are forgotten by an erasure, so they load shredded."""

from __future__ import annotations

from uuid import uuid4

from argon2 import PasswordHasher

from adapters.eventstore import EventStore
from adapters.keystore import ERASED, InMemoryKeyStorage, KeyStore
from adapters.settings import Settings
from commands.handlers import Studio

SECRET = "unit-test-master-secret"


class CountingStorage(InMemoryKeyStorage):
    """Counts reads of wrapped keys."""

    reads: int = 0

    def wrapped_key(self, user_id):
        self.reads += 1
        return super().wrapped_key(user_id)


def test_a_cached_key_is_read_once_until_it_expires(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("adapters.keystore.time.monotonic", lambda: clock[0])
    storage = CountingStorage()
    keys = KeyStore(storage, SECRET, cache_seconds=2.0)
    user_id = uuid4()
    keys.create_key(user_id)
    token = keys.encrypt(user_id, "Meera")

    assert [keys.decrypt(user_id, token) for _ in range(3)] == ["Meera"] * 3
    assert storage.reads == 1
    clock[0] += 2.5
    assert keys.decrypt(user_id, token) == "Meera"
    assert storage.reads == 2


def test_the_key_cache_is_bounded(monkeypatch):
    monkeypatch.setattr("adapters.keystore.MAX_CACHED_KEYS", 3)
    keys = KeyStore(CountingStorage(), SECRET, cache_seconds=60.0)
    for _ in range(10):
        user_id = uuid4()
        keys.create_key(user_id)
        keys.encrypt(user_id, "Meera")
        assert len(keys._keys) <= 3


def test_destroying_a_key_drops_its_cached_copy_at_once():
    keys = KeyStore(CountingStorage(), SECRET, cache_seconds=60.0)
    user_id = uuid4()
    keys.create_key(user_id)
    token = keys.encrypt(user_id, "Meera")
    assert keys.decrypt(user_id, token) == "Meera"

    keys.destroy_key(user_id)

    assert keys.decrypt(user_id, token) == ERASED


def test_without_a_cache_every_use_reads_the_key():
    storage = CountingStorage()
    keys = KeyStore(storage, SECRET)
    user_id = uuid4()
    keys.create_key(user_id)
    token = keys.encrypt(user_id, "Meera")
    keys.decrypt(user_id, token)
    keys.decrypt(user_id, token)
    assert storage.reads == 3


def test_an_erasure_forgets_the_users_cached_aggregates(unit_settings: Settings):
    keys = KeyStore(InMemoryKeyStorage(), SECRET, cache_seconds=60.0)
    store = EventStore.in_memory(keys, cache_size=100)
    studio = Studio(unit_settings, store, keys)
    studio.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    user_id, _ = studio.register("meera@example.com", "lamp-light-42", "Meera")
    project_id, _ = studio.create_project(user_id, "Moonlit Quokka", "en", "16:9")
    studio.revise_script(user_id, project_id, "fountain", "INT. ATTIC - NIGHT\n\nA lamp.\n")
    assert store.load(project_id).title == "Moonlit Quokka"  # loaded, so cached

    studio.erase_user(user_id)

    assert (store.load(project_id).title, store.load(project_id).script_text) == (ERASED, ERASED)
