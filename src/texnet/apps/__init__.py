"""The applications built on the method: the `texnet` command, the demo, evaluation and the paper reproduction."""
