"""The local media store: content keys and atomic artifacts."""

import pytest

from adapters.media import LocalMediaStore, artifact_key


def test_keys_depend_on_every_part_and_not_on_dict_order():
    key = artifact_key("music", "offline", "1", {"mood": "calm", "seconds": 4})
    assert key == artifact_key("music", "offline", "1", {"seconds": 4, "mood": "calm"})
    assert key != artifact_key("music", "offline", "2", {"mood": "calm", "seconds": 4})
    assert key != artifact_key("music", "model", "1", {"mood": "calm", "seconds": 4})
    assert key != artifact_key("music", "offline", "1", {"mood": "sad", "seconds": 4})


def test_an_artifact_appears_only_when_complete(tmp_path):
    store = LocalMediaStore(tmp_path)
    key = artifact_key("s", "b", "1", {})
    with pytest.raises(RuntimeError), store.writing(key) as folder:
        (folder / "half.wav").write_bytes(b"x")
        raise RuntimeError("worker died")
    assert not store.exists(key)
    with store.writing(key) as folder:
        (folder / "film.mp4").write_bytes(b"film")
    assert store.exists(key)
    assert store.path(key, "film.mp4").read_bytes() == b"film"
    assert store.names(key) == ["film.mp4"]


def test_a_second_writer_of_the_same_content_is_harmless(tmp_path):
    store = LocalMediaStore(tmp_path)
    key = artifact_key("s", "b", "1", {"n": 1})
    for content in (b"first", b"second"):
        with store.writing(key) as folder:
            (folder / "a.bin").write_bytes(content)
    assert store.path(key, "a.bin").read_bytes() == b"first"


@pytest.mark.parametrize("name", ["../x", ".hidden", "a/b"])
def test_paths_stay_inside_the_artifact(tmp_path, name):
    store = LocalMediaStore(tmp_path)
    key = artifact_key("s", "b", "1", {})
    with store.writing(key) as folder:
        (folder / "a").write_bytes(b"")
    with pytest.raises(ValueError):
        store.path(key, name)


def test_bad_keys_are_refused(tmp_path):
    with pytest.raises(ValueError):
        LocalMediaStore(tmp_path).exists("../../etc")


def test_staging_left_by_a_killed_writer_is_swept(tmp_path):
    import os

    store = LocalMediaStore(tmp_path)
    key = artifact_key("s", "b", "1", {"n": 2})
    stale = tmp_path / key[:2] / f".{key[:12]}-abandoned"
    stale.mkdir(parents=True)
    (stale / "half.wav").write_bytes(b"x")
    fresh = tmp_path / key[:2] / f".{key[:12]}-in-progress"
    fresh.mkdir()
    os.utime(stale, (0, 0))
    with store.writing(key) as folder:
        (folder / "a.bin").write_bytes(b"done")
    assert store.sweep_staging(older_than_seconds=60) == 1
    assert not stale.exists() and fresh.exists() and store.exists(key)
