"""The Redox client: httpx, OAuth client-credential auth, retries, rate limit, typed errors; and
`api`, the facts of the wire that the client and the sandbox both speak."""
