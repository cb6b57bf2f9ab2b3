"""Pure rules without I/O: message model, languages, personalization, payloads, limits."""
