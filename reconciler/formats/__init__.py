"""Bytes and text, with no knowledge of records: the building blocks every side reads and writes
with.

- `files`: bounded reading (regular files only, inside the repository, under a size limit);
- `atomic`: writing a file so a crash leaves the old or the new one, never half;
- `jsonfile`: JSON the tool wrote, read back strictly; `jsontext`: canonical JSON, digests;
- `yamlfile`: YAML to plain values with line numbers; `yamltext`: YAML the tool writes;
- `redact`: the run's secrets, masked in everything printed, logged or written.
"""
