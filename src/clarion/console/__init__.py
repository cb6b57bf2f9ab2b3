"""The web console: server-rendered pages over the native API, served at `/`."""
