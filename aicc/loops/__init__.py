"""The control loops: the controller's thread and its list of steps (`controller`, `steps`),
one module per step, the lease that lets one server lead (`lease`), the federation loop in a
thread of its own (`federation`) and the wake from a worker process (`wakes`). A step
orchestrates (lease, timing, executors' calls outside transactions); what it writes is its
context's service functions."""
