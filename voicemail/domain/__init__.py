"""The core: models, ports and errors. No sockets, HTTP, SQL or files in here."""
