"""A Redox-compatible sandbox: the Redox API and the Carequality directory, emulated as
documented (app.py: routes, auth, faults; store.py: the directory; rules.py: what it refuses;
faults.py: the faults it can inject; preload.py: records created elsewhere; serve.py: over HTTP
on 127.0.0.1). It speaks reconciler.redox.api, as the client does."""
