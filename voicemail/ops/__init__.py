"""Operations helpers: installation checks (``doctor``) and housekeeping of the state folders."""
