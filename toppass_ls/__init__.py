"""toppass-ls: a language server that offers LLM-sampled, ranker-ordered candidates for the
Python function under the cursor as code actions. Thin protocol handlers over plain functions:

    server     the pygls server: handlers, state, progress and messages
    pipeline   one request: prompt -> samples (async) -> `ranker.offer` (worker thread)
    settings   the typed settings tree (validation, schema, README table, editors' defaults)
    edits      the text edit that applies a candidate, and the code action's title
    cache      ranked results kept per function text
    feedback   the local log of what the user applied and kept (`feedbackLog`)
    progress   work-done progress with cancel
    cli        `toppass-ls --stdio`, `suggest`, `settings-schema`
"""

from ranker.version import package_version

__version__ = package_version()
