"""Request time: checking a send that needs I/O, and accepting it durably."""
