"""A throwaway certificate authority made with the openssl command line, for TLS tests."""
from __future__ import annotations

import subprocess
from pathlib import Path


def _run(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


class CertificateAuthority:
    def __init__(self, directory: Path, name: str = "gatehouse-test-ca") -> None:
        self.dir = directory
        self.key = directory / f"{name}.key"
        self.cert = directory / f"{name}.pem"
        _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
             "-keyout", str(self.key), "-out", str(self.cert))

    def issue(self, name: str, san: str = "IP:127.0.0.1", subject: str | None = None) -> tuple[Path, Path]:
        """A leaf certificate and key signed by this CA (subject `/CN=name` unless given, usable
        by servers and clients); returns (cert, key)."""
        key, csr, cert = (self.dir / f"{name}.{ext}" for ext in ("key", "csr", "pem"))
        ext = self.dir / f"{name}.ext"
        ext.write_text(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
                       "extendedKeyUsage=serverAuth,clientAuth\n")
        _run("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject or f"/CN={name}", "-keyout", str(key),
             "-out", str(csr))
        _run("x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey", str(self.key), "-CAcreateserial",
             "-days", "2", "-extfile", str(ext), "-out", str(cert))
        return cert, key
