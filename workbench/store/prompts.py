"""Prompt versions saved in a store: immutable (task, name) → text."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from ..errors import ConfigError
from .schema import _CHUNK, VERSION_NAME, now_iso, _transaction

if TYPE_CHECKING:
    import pandas as pd


class PromptVersions:
    """RunStore's methods for saved prompt versions (a part of RunStore, not used alone)."""

    conn: sqlite3.Connection
    path: Path

    def save_prompt_version(self, task: str, name: str, prompt: str) -> dict:
        """Save `prompt` as version `name` of `task`; returns the stored record (`created`: False when this very
        text was already saved under that name). The same name with another text raises ConfigError."""
        from ..lifecycle import prompt_hash

        if not isinstance(name, str) or not VERSION_NAME.fullmatch(name):
            raise ConfigError(f"prompt version name {name!r} is not usable — use up to 64 letters, digits, '.', '_' "
                              "or '-', without spaces (e.g. strict-v2)")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ConfigError(f"prompt version {name!r} has an empty prompt — type the prompt first")
        record = {"task": task, "name": name, "prompt": prompt, "prompt_hash": prompt_hash(prompt),
                  "created_at": now_iso()}
        with _transaction(self.conn) as conn:  # insert-or-read under one write lock: two savers cannot race
            cursor = conn.execute("INSERT INTO prompt_versions (task, name, prompt, prompt_hash, created_at) "
                                  "VALUES (:task, :name, :prompt, :prompt_hash, :created_at) "
                                  "ON CONFLICT (task, name) DO NOTHING", record)
            created = cursor.rowcount == 1
            stored = dict(conn.execute("SELECT * FROM prompt_versions WHERE task = ? AND name = ?",
                                       (task, name)).fetchone())
        if stored["prompt"] != prompt:
            raise ConfigError(f"prompt version {name!r} of {task} is already saved with a different text "
                              f"(hash {stored['prompt_hash']}, saved {stored['created_at']}) — versions are never "
                              "overwritten, so past runs stay comparable: save this text under a new name")
        return {**stored, "created": created}

    def list_prompt_versions(self, task: str | None = None) -> "pd.DataFrame":
        """Saved prompt versions (every task, or one), oldest first: task, name, prompt, prompt_hash, created_at."""
        import pandas as pd

        columns = ["task", "name", "prompt", "prompt_hash", "created_at"]
        sql = f"SELECT {', '.join(columns)} FROM prompt_versions"
        rows = self.conn.execute(sql + (" WHERE task = ? ORDER BY id" if task else " ORDER BY id"),
                                 (task,) if task else ()).fetchall()
        return pd.DataFrame([dict(r) for r in rows], columns=columns)

    def get_prompt_version(self, task: str, name: str) -> str:
        """The text saved as `name` for `task`; ConfigError naming the saved versions when there is none."""
        found = self.prompt_version_texts(task, [name])
        if name in found:
            return found[name]
        saved = [r["name"] for r in self.conn.execute(
            "SELECT name FROM prompt_versions WHERE task = ? ORDER BY id", (task,))]
        hint = f"saved for {task}: {', '.join(saved)}" if saved else f"no version of {task} is saved yet"
        raise ConfigError(f"no prompt version {name!r} for {task} in {self.path} — {hint}")

    def prompt_version_texts(self, task: str, names: Iterable[str]) -> dict[str, str]:
        """name -> text for those of `names` saved for `task` (the others are simply absent)."""
        names = list(dict.fromkeys(names))
        found: dict[str, str] = {}
        for i in range(0, len(names), _CHUNK):
            chunk = names[i:i + _CHUNK]
            for row in self.conn.execute(
                    f"SELECT name, prompt FROM prompt_versions WHERE task = ? AND name IN ({', '.join('?' * len(chunk))})",
                    (task, *chunk)):
                found[row["name"]] = row["prompt"]
        return found

