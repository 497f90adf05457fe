"""Static proofs of the public types, checked by mypy --strict and basedpyright (strict).

Each ``assert_type`` holds in both checkers. An expected error is pinned per checker: here
``# type: ignore[code]`` is mypy's alone (pyright is configured to skip it in this folder) and
``# pyright: ignore[rule]`` is pyright's; each checker reports an ignore it does not need, so
every expected error is proved in both. pytest runs the files too.
"""
