"""The desired side: what the repository says the directory should hold.

- `settings`: reconciler.yaml and the built-in environments;
- `loader`: the record files, validated, as the exact Redox wire form per environment;
- `walk`: which record files there are, with their stat, and the fingerprint of a walk
  (standard library only: the kept answers walk before anything else is imported);
- `validation`: pydantic's errors as problems with file, line and fix;
- `stat_index`: each record file's stat and what it parsed to, in SQLite under
  .reconciler/cache/ (`index_rows` its rows and checksums, `index_payloads` its payload
  table): a warm plan opens only the files that changed;
- `pool`: a cold read parses the files on every core;
- `policy_cache`: the policies of reconciler.yaml, compiled, kept there too;
- `scaffold`: the files `reconciler init` writes, from the package's templates.
"""
