"""`python -m toppass_ls` = `toppass-ls`."""

from toppass_ls.cli import main

main()
