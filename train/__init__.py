"""The training toolkit: benchmarks in, a saved ranker and honest figures out. Plain functions;
`cli` only parses options and calls them.

    loaders/    benchmark problem sets (HumanEval, MBPP, EvalPlus, APPS, CodeContests, in-house)
    problems, pools, slates, jsonl   the data: problems, candidate pools, a problem's distinct
                programs with labels and counts (slates), streamed JSON lines
    generate    sample pools with the provider code the server uses
    labelling   label pools by running every candidate against its tests in the sandbox
    signals     execution and likelihood signals for slates (cached on disk)
    data        problems, slates and signals as the commands load them; what a fit learns from
    embeddings, scoring   cached backbone vectors; scoring slates with a ranker
    fit         the training loop: config -> data -> model -> optimiser -> loop -> checkpoint
    probe       what a trained head weighs: a linear probe of its scores on its features
    evaluate    the metrics of an ordering and the baselines; `pool_eval` runs them all
    calibration fit a ranker's calibration; measure its probabilities (ECE, Brier)
    plots       `eval --plots`: the pass@k curve and the reliability diagram as PNG files
    likelihood_features   coder/reviewer scores of a pool's programs, as a feature file
    feedback    the editor's feedback log as training slates; kept-at-#1 before and after
"""
