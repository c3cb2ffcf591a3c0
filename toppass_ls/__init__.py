"""toppass-ls: a language server that offers LLM-sampled, ranker-ordered candidates for the
Python function under the cursor as code actions."""

__version__ = "0.1.0"
