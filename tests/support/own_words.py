"""Fingerprints of the seed article, so a test can prove we speak in our own words.

The article itself is not ours to ship. What the repository keeps is a salted hash of each
run of RUN_WORDS consecutive words in it (tests/fixtures/seed/article-runs.txt): any text
sharing RUN_WORDS words in a row with the article shares one of those hashes, and nothing
of the article can be read back from them. Regenerate after the seed changes with

    python -m tests.support.own_words ../shared/seed/sciatic-stretch-article.txt
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

from tests.support.paths import FIXTURES

#: A run this long copied from the article is no longer our own words (7 shared words are).
RUN_WORDS = 8
FINGERPRINTS = FIXTURES / "seed" / "article-runs.txt"
_SALT = b"sciatica-coach/own-words:"


def words(text: str) -> list[str]:
    """Lower-case words with inner apostrophes, so punctuation and case do not hide a copy."""
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)*", text.lower().replace("\u2019", "'"))


def run_hashes(text: str) -> dict[str, str]:
    """Each RUN_WORDS-word run of `text`, by its hash."""
    found = words(text)
    runs = (" ".join(found[i : i + RUN_WORDS]) for i in range(len(found) - RUN_WORDS + 1))
    return {hashlib.sha256(_SALT + run.encode()).hexdigest()[:20]: run for run in runs}


def article_fingerprints() -> set[str]:
    lines = FINGERPRINTS.read_text("utf-8").splitlines()
    return {line for line in lines if line and not line.startswith("#")}


def main(article: str) -> None:
    hashes = sorted(run_hashes(Path(article).read_text("utf-8")))
    header = f"# {len(hashes)} salted hashes of {RUN_WORDS}-word runs of the seed article\n"
    FINGERPRINTS.write_text(header + "\n".join(hashes) + "\n", "utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
