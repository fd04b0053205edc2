"""The environment a child process (tritonserver, an index build) starts with: ours, minus
anything that looks like a secret.

A child inherits the whole environment by default, IMAGESEARCH_QDRANT_API_KEY included,
and then anything that can read /proc/<pid>/environ of that child (its own Python-backend
model code, a core dump, a crash reporter) has the key (issue 10). None of our children
needs a credential, so variables whose names say they hold one are dropped; everything
else (PATH, LD_LIBRARY_PATH, CUDA_*, locale, ...) is kept, since an allow-list would break
GPU and library set-ups we cannot enumerate.
"""

from __future__ import annotations

import os
import re
from typing import Mapping

# Name parts (between underscores, or at either end) that mark a credential: API_KEY,
# SECRET_ACCESS_KEY, GITHUB_TOKEN, PGPASSWORD, AUTH_TOKEN, ... "KEY" alone covers
# IMAGESEARCH_QDRANT_API_KEY and its _FILE variant (a path to the key: no child needs it).
_SECRET_NAME = re.compile(
    r"(^|_)(KEY|KEYS|APIKEY|SECRET|SECRETS|TOKEN|TOKENS|PASSWORD|PASSWD|PASSPHRASE|"
    r"CREDENTIAL|CREDENTIALS|AUTH|PRIVATE)(_|$)"
    # Inside a word too (PGPASSWORD, CLIENTSECRET); not TOKEN, which would take
    # TOKENIZERS_PARALLELISM from the text models.
    r"|PASSWORD|PASSWD|SECRET|APIKEY",
    re.IGNORECASE,
)
# Names that match the pattern but are not secrets and that tools rely on.
_KEEP = frozenset({"PWD", "OLDPWD"})


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name says it holds a credential."""
    return name not in _KEEP and bool(_SECRET_NAME.search(name))


def scrubbed_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """`environ` (default: this process's) without its secret-looking variables."""
    source = os.environ if environ is None else environ
    return {name: value for name, value in source.items() if not is_secret_name(name)}
