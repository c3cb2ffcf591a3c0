"""toppass-ls: a language server that offers LLM-sampled, ranker-ordered candidates for the
Python function under the cursor as code actions."""

from ranker.version import package_version

__version__ = package_version()
