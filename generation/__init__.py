"""Sampling candidates from an LLM, for the language server (the function under the cursor)
and for training (`toppass-train generate`), so both ask the model the same way. Nothing here
knows about editors or ranking.

    provider   the request, the answer, the `Provider` protocol, `SamplingError`
    prompts    the chat messages / completion text for a request, and the stop sequences
    openai_endpoint  any OpenAI-compatible endpoint through the `openai` async client
    local      a transformers model on this machine (SmolLM2-135M by default)
    stragglers when a local batch stops waiting for its slowest answers
    factory    `make_provider`: one factory for the server and `generate`

A provider returns raw answers; `ranker.candidates` turns them into programs.
"""
