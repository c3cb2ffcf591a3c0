"""One provider factory for the language server and `toppass-train generate`."""

from __future__ import annotations

from typing import get_args

from generation.provider import ApiStyle, HonoursN, Provider, SamplingOptions
from generation.stragglers import DEFAULT_STRAGGLERS, StragglerRule

PROVIDERS = ("local", "openai")


def make_provider(
    kind: str,
    options: SamplingOptions,
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    api: str = "chat",
    honours_n: str = "auto",
    device: str = "cpu",
    batch_size: int = 16,
    stragglers: StragglerRule | None = DEFAULT_STRAGGLERS,
) -> Provider:
    """A `LocalProvider` (`kind` "local"; `model`: a model directory or `.gguf` file, None for
    the shipped SmolLM2) or an `OpenAIProvider` ("openai"; `model` required; `base_url` and
    `api_key` None read OPENAI_BASE_URL / OPENAI_API_KEY). Nothing loads or connects until the
    first sample; `device` is where a local model runs (cpu, cuda), `batch_size` how many
    answers it samples at once (more on a GPU), `stragglers` when its batch stops waiting for
    its slowest answers (None: never before `maxTokens`). Bad arguments raise
    ValueError with one line naming them."""
    if kind == "local":
        from generation.local import LocalProvider

        return LocalProvider(
            model, options=options, device=device, batch_size=batch_size, stragglers=stragglers
        )
    if kind != "openai":
        raise ValueError(f"provider must be one of {', '.join(PROVIDERS)}, got {kind!r}")
    if not model:
        raise ValueError("the openai provider needs a model name")
    if api not in get_args(ApiStyle):
        raise ValueError(f"api must be chat or completions, got {api!r}")
    if honours_n not in get_args(HonoursN):
        raise ValueError(f"honours_n must be auto, yes or no, got {honours_n!r}")
    from generation.openai_endpoint import OpenAIProvider

    return OpenAIProvider(
        model=model,
        base_url=base_url,
        api_key=api_key,
        api=api,  # type: ignore[arg-type]  # checked above
        honours_n=honours_n,  # type: ignore[arg-type]
        options=options,
    )
