"""`python -m voicemail.cli …` runs the `voicemail` command."""

from voicemail.cli.root import main

main()
