"""Runs a Plan through the Redox API: the applier (intents, calls, retries of resolution,
interruption), ownership (a Create answered "already exists"), the read-back of what changed
(verify), the look-ups that ask the directory what it holds, and the result of a run as data.
It records through ledger.writer and talks to Redox through redox.api.RedoxApi.
"""
