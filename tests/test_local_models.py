"""Where model weights are: a weights package, a `.gguf` file or a folder holding one, a model
directory (`ranker.local_models`)."""

from pathlib import Path

import pytest

from ranker.local_models import LocalModelError, resolve_local_model


def test_resolve_local_model(tmp_path, tiny_decoder_dir):
    folder, gguf = resolve_local_model(None)
    assert gguf is not None and gguf.endswith(".gguf") and (folder / gguf).is_file()
    assert resolve_local_model(str(tiny_decoder_dir)) == (Path(tiny_decoder_dir), None)
    (tmp_path / "m.gguf").write_bytes(b"")
    assert resolve_local_model(str(tmp_path / "m.gguf")) == (tmp_path, "m.gguf")
    assert resolve_local_model(str(tmp_path)) == (tmp_path, "m.gguf")
    with pytest.raises(LocalModelError, match="local model not found"):
        resolve_local_model(str(tmp_path / "missing"))
    (tmp_path / "two.gguf").write_bytes(b"")
    with pytest.raises(LocalModelError, match=r"several \.gguf files"):
        resolve_local_model(str(tmp_path))
