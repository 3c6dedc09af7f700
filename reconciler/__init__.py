"""redox-reconciler: Carequality organization and provider records as YAML, made real in Redox."""
