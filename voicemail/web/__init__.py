"""The web inbox and REST API. Start at app.py (create_app) and wiring.py (build_web_deps);
sessions.py documents establish_session for other sign-in methods."""
