"""Talking to Redox: the HTTP client, and a Redox-compatible sandbox to talk to instead."""

from __future__ import annotations
