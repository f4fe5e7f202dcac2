"""Operations: the installation checks behind `voicemail doctor` (one function per check, each returning a result)."""
