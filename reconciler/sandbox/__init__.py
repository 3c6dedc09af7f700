"""A Redox-compatible sandbox: the Redox API and the Carequality directory, emulated as
documented (app.py: routes, auth, faults; store.py: the directory and its rules; serve.py:
over HTTP on 127.0.0.1). It speaks reconciler.redox.api, as the client does."""
