"""Prompt versions from the playground: saved in the run store (or this session), listed, loaded back."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape

from ..errors import ConfigError
from ..lifecycle import prompt_hash


@dataclass(frozen=True)
class PromptVersion:
    task: str
    name: str
    prompt: str
    prompt_hash: str
    saved_at: str
    stored: bool  # True when written to the run store, False when kept in this session only
    extra: dict = field(default_factory=dict)


def default_store():
    """The run store (workbench.store, at $WORKBENCH_DB or runs/workbench.db)."""
    from ..store import RunStore

    return RunStore()


def _existing_default_store():
    """The default store only if its file is already there: opening a playground must not create a database."""
    from ..store import default_db_path

    return default_store() if default_db_path().exists() else None


class PromptVersions:
    """The Playground's "Save as prompt version" and "Saved" picker (a part of Playground, not used alone)."""

    def save_version(self, name: str | None = None) -> PromptVersion:
        """The "Save as prompt version" button: records the prompt as edited, under a name, for this task.

        In the run store a (task, name) always means one text: the same name with another text raises
        ConfigError (the button shows it in the status line)."""
        task = self.task.name
        name = (name or self.version_name.value or "").strip() or self._next_name(task)
        text = self.prompt.value
        version = PromptVersion(task=task, name=name, prompt=text, prompt_hash=prompt_hash(text),
                                saved_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), stored=False)
        where = "kept in memory for this session only (this installation's run store cannot hold prompt versions)"
        store = self._store or default_store()
        if store is not None:
            version = _save_to_store(store, version)
            where = "saved in the run store"
        else:
            same = next((v for v in self.versions if (v.task, v.name) == (task, name)), None)
            if same is not None and same.prompt != text:
                raise ConfigError(f"prompt version {name!r} of {task} already has a different text — save this "
                                  "one under a new name")
        self.versions = [v for v in self.versions if (v.task, v.name) != (task, name)] + [version]
        self._refresh_versions()
        self._say(f"Prompt version <b>{escape(name)}</b> ({version.prompt_hash}) {where}.")
        return version

    def _save_clicked(self) -> None:
        try:
            self.save_version()
        except ConfigError as e:  # a taken name, a name with spaces: the user's to fix, in the panel
            self._say(escape(str(e)), error=True)

    def _next_name(self, task: str) -> str:
        taken = {v.name for v in self.versions if v.task == task}
        n = len(taken) + 1
        while f"v{n}" in taken:
            n += 1
        return f"v{n}"

    def _saved_versions(self) -> list[PromptVersion]:
        """Versions already in the run store (every task), so a new playground lists what earlier ones saved."""
        store = self._store if self._store is not None else _existing_default_store()
        if store is None or not hasattr(store, "list_prompt_versions"):  # `store=` may be any object that saves
            return []
        return [PromptVersion(r.task, r.name, r.prompt, r.prompt_hash, r.created_at, stored=True)
                for r in store.list_prompt_versions().itertuples()]

    def _refresh_versions(self) -> None:
        task = self.task.name
        self.version_picker.options = [("—", None)] + [(v.name, v.name) for v in self.versions if v.task == task]
        self.version_picker.value = None

    def _version_picked(self) -> None:
        name = self.version_picker.value
        version = next((v for v in self.versions if v.task == self.task.name and v.name == name), None)
        if version is not None:
            self.prompt.value = version.prompt
            self.version_name.value = version.name


def _save_to_store(store, version: PromptVersion) -> PromptVersion:
    """Write through the run store's API (workbench.store); its own errors propagate."""
    saved = store.save_prompt_version(version.task, version.name, version.prompt)
    extra = saved if isinstance(saved, dict) else {"id": getattr(saved, "id", saved)}
    return PromptVersion(version.task, version.name, version.prompt, version.prompt_hash, version.saved_at,
                         stored=True, extra=extra)
