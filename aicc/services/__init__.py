"""The use cases, one package per bounded context (docs/ARCHITECTURE.md draws them and which
uses which): each owns its service functions, its read models (`views.py`), the effects of its
loop steps and the wake its changes raise (`changes`). `common`: the clock, ids and the errors
the faces turn into answers."""
