"""The control loops: the controller's thread and its steps (`controller`, `steps`), where the
steps come from (`registry`), one module per step (each declares its `STEP`), the lease that
lets one server lead (`lease`), the federation loop in a thread of its own (`federation`) and the
wake from a worker process (`wakes`). A step orchestrates (lease, timing, executors' calls
outside transactions); what it writes is its context's service functions."""
