"""respq's producer side: validation, submit, the ``Batch`` handle and the ``respq`` CLI.

Its public names are re-exported by the package root: ``from respq import BatchClient``.
"""
