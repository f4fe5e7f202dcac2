"""The `voicemail` command. Thin: parse arguments, load settings, call the composition root.

One module per command group (service, keys, messages, notifications, config, directory, audit, cases,
web, signin, lifecycle); ``root`` assembles them; ``common`` holds the shared option, logging set-up
and the one error mapping.
"""

from voicemail.cli.root import main

__all__ = ["main"]
