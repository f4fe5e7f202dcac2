"""Key lifecycle: keyring backends (local file, PKCS#11 HSM), durable per-KEK usage
counters, KEK rotation with a resumable re-wrap of every data key, retirement of old KEKs, FIPS mode."""
