"""The desired side: what the repository says the directory should hold.

- `settings`: reconciler.yaml and the built-in environments;
- `loader`: the record files, validated, as the exact Redox wire form per environment;
- `validation`: pydantic's errors as problems with file, line and fix;
- `parse_cache`: parsed, validated record files kept in .reconciler/cache/;
- `policy_cache`: the policies of reconciler.yaml, compiled, kept there too;
- `scaffold`: the files `reconciler init` writes, from the package's templates.
"""
