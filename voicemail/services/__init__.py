"""Use cases: discovery, custody (seal, strip), notification. Pure logic over the ports."""
