"""The fast path: the library internals the captioner and the writer run faster on.

Each part relies on a torch or transformers internal. Each is checked at load, on a probe
against the public computation; one that is missing or gives other numbers raises ``Unusable``
(``models``), is not used, and the backend runs the public path instead, with one warning line
that names it (``models.warn_public_path``): slower, the same results. Every probe uses fixed
numbers (``probe``), so a check at load changes no seeded result.
"""
