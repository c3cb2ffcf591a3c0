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


@pytest.mark.slow
def test_gguf_weights_are_converted_once_and_kept(tmp_path, monkeypatch):
    import torch

    from ranker.local_models import CONVERTED_ENV, load_causal_lm

    monkeypatch.setenv(CONVERTED_ENV, str(tmp_path))
    folder, gguf = resolve_local_model(None)
    tokenizer, model = load_causal_lm(folder, gguf)
    (kept,) = tmp_path.iterdir()  # one converted copy, named for the GGUF file
    assert kept.name.startswith(Path(gguf).stem) and (kept / "config.json").is_file()
    again_tokenizer, again = load_causal_lm(folder, gguf)
    ids = tokenizer("def f(x):\n    return x", return_tensors="pt").input_ids
    assert again_tokenizer("def f(x):\n    return x", return_tensors="pt").input_ids.tolist() == (
        ids.tolist()
    )
    with torch.inference_mode():
        assert torch.allclose(model(ids).logits, again(ids).logits, atol=1e-5)
    monkeypatch.setenv(CONVERTED_ENV, "")  # empty: nothing kept
    load_causal_lm(folder, gguf)
    assert list(tmp_path.iterdir()) == [kept]
