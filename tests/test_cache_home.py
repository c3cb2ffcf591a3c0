"""Every cache toppass keeps lives under one cache home that follows $XDG_CACHE_HOME."""

from pathlib import Path

from ranker.cache import cache_home
from ranker.local_models import converted_dir
from train.embeddings import default_cache_dir
from train.labelling import default_cache_path
from train.signals import default_runs_cache


def test_the_caches_follow_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.delenv("TOPPASS_MODEL_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    home = tmp_path / "toppass"
    assert cache_home() == home
    assert converted_dir() == home / "models"
    assert default_cache_dir() == home / "embeddings"
    assert default_cache_path() == home / "label-cache.jsonl"
    assert default_runs_cache() == home / "visible-runs.jsonl"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_home() == Path.home() / ".cache" / "toppass"
    monkeypatch.setenv("TOPPASS_MODEL_CACHE", str(tmp_path / "elsewhere"))
    assert converted_dir() == tmp_path / "elsewhere"  # the model cache's own override wins
