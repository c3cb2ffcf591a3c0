"""What is known about a problem's candidate programs besides their text:

types       the signal types every room passes around (a leaf)
execution   running the programs on a problem's visible tests or a docstring's examples
            (and inputs built beside them) in the sandbox: outcomes, behaviour clusters
defects     why a program cannot pass, seen without running it
likelihood  a small causal LM's view: how well a program predicts the docstring (the
            reviewer) and how likely it is as code (the coder)
"""
