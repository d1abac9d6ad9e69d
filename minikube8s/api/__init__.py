"""Pure API data: resource table, Status errors, validation, defaulting, conversion, selectors,
quantities and patches. No I/O: the API server, the client and the CLI all import from here."""
