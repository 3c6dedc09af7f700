"""The Redox client: httpx, OAuth client-credential auth, retries, rate limit, typed errors."""
