"""Services: the policy layer between the doors and the store (keys, credentials, usage...)."""
