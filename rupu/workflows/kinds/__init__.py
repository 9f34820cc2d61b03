"""One module per workflow step kind: its keys (a strict model on `base.StepBase`), the checks of
which keys go together, and the kind-specific work the loader, planner and runner dispatch to.

`rupu.workflows.spec` joins the models into the `Step` union; nothing here imports `spec`, so the
union can import every kind.
"""
