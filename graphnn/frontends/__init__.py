"""Other ways into a graph than the builder: eager mode (`gn.eager`) and tracing (`gn.trace`, `@gn.function`).
User level: may import anything in graphnn."""
