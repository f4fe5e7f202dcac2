"""The Outlook add-in: its manifest, generated for a site."""
